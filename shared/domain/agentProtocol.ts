// What our hub and our member agent agree on beyond KubeFleet's objects (which stay as they are).

/**
 * An annotation on a member's InternalMemberCluster whose value changes after each change to the
 * member's Works by anyone but its agent (shared/app/workHints.ts): the agent lists its Works when
 * it changed, instead of every heartbeat.
 */
export const worksVersionAnnotation = 'fleet.azure.com/works-version';

/** However quiet the annotation, an agent lists its Works this often (what bounds a lost announcement). */
export const worksResyncSeconds = 300;
