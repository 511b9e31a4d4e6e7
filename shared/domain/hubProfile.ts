// A fleet's hub (properties.hubProfile): what a PUT may ask for, the names the hub gets, and the
// shape ARM returns. The hub is this service's own Kubernetes API (functions over Table Storage),
// so what configures an AKS hub cluster's network or VMs is refused, not silently ignored.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { badRequest } from './errors.js';

/** The Kubernetes version a hub reports (shared/hub/discovery.ts serves it). */
export const hubKubernetesVersion = '1.32.4';

export interface FleetHub {
  dnsPrefix: string;
  /** The hub's name in its URL: `{dnsPrefix}-{8 hex}`, unique per fleet and creation. */
  name: string;
  /** The table of its objects. */
  table: string;
  /** host/hubs/{name}: https://{fqdn} is the hub's server URL. */
  fqdn: string;
  /** Set by the worker once the table and the system namespaces exist. */
  ready?: boolean;
}

const dnsPrefix = z
  .string()
  .regex(/^[a-zA-Z0-9]$|^[a-zA-Z0-9][a-zA-Z0-9-]{0,52}[a-zA-Z0-9]$/, 'must be 1-54 letters, digits and hyphens, starting and ending with a letter or digit');

export const hubProfileBody = z
  .object({
    dnsPrefix: dnsPrefix.optional(),
    apiServerAccessProfile: z
      .object({ enablePrivateCluster: z.boolean().optional(), enableVnetIntegration: z.boolean().optional(), subnetId: z.string().optional() })
      .loose()
      .optional(),
    agentProfile: z.object({ subnetId: z.string().optional(), vmSize: z.string().optional() }).loose().optional(),
  })
  .loose();

/** Checks a requested hub profile; returns its dnsPrefix (the fleet's name when none is given, as the CLI derives one). */
export function parseHubProfile(raw: unknown, fleetName: string): string {
  const parsed = hubProfileBody.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw badRequest('InvalidParameter', `properties.hubProfile.${issue.path.join('.')}: ${issue.message}`, `properties.hubProfile.${issue.path.join('.')}`);
  }
  const p = parsed.data;
  const access = p.apiServerAccessProfile;
  if (access?.enablePrivateCluster || access?.enableVnetIntegration || access?.subnetId)
    throw badRequest(
      'HubProfileNotSupported',
      "This service's hubs are served by its own API over the internet; a private or VNet-integrated hub API server is not available. Leave out properties.hubProfile.apiServerAccessProfile.",
      'properties.hubProfile.apiServerAccessProfile',
    );
  if (p.agentProfile?.subnetId || p.agentProfile?.vmSize)
    throw badRequest(
      'HubProfileNotSupported',
      "This service's hubs run no agent VMs, so there is no VM size or subnet to choose. Leave out properties.hubProfile.agentProfile.",
      'properties.hubProfile.agentProfile',
    );
  return (
    p.dnsPrefix ??
    (fleetName
      .replace(/[^a-zA-Z0-9-]/g, '')
      .slice(0, 54)
      .replace(/^-+|-+$/g, '') ||
      'fleet')
  );
}

export function newHub(fleetId: string, createdAt: string, prefix: string, host: string): FleetHub {
  const hash = createHash('sha256').update(`${fleetId.toLowerCase()}|${createdAt}`).digest('hex');
  const name = `${prefix.toLowerCase()}-${hash.slice(0, 8)}`;
  return { dnsPrefix: prefix, name, table: `hub${hash.slice(8, 32)}`, fqdn: `${host}/hubs/${name}` };
}

export const hubToArm = (h: FleetHub) => ({ dnsPrefix: h.dnsPrefix, fqdn: h.fqdn, kubernetesVersion: hubKubernetesVersion, portalFqdn: h.fqdn });
