import { readFileSync } from 'node:fs';
import { z } from 'zod';

// "[d.]hh:mm:ss[.fff]" as host.json writes TimeSpans; in milliseconds.
const timeSpan = z
  .string()
  .regex(/^(\d+\.)?\d{2}:\d{2}:\d{2}(\.\d{1,7})?$/)
  .transform((s) => {
    const [days, rest] = /^\d+\./.test(s) ? [Number(s.slice(0, s.indexOf('.'))), s.slice(s.indexOf('.') + 1)] : [0, s];
    const [h, m, sec] = rest.split(':').map(Number);
    return Math.round((((days * 24 + h) * 60 + m) * 60 + sec) * 1000);
  });

const hostJsonSchema = z.object({
  version: z.literal('2.0'),
  extensions: z.object({
    http: z.object({ routePrefix: z.string() }),
    serviceBus: z.object({
      maxConcurrentSessions: z.number().int().positive(),
      maxMessageBatchSize: z.number().int().positive(),
      maxAutoLockRenewalDuration: timeSpan,
      autoCompleteMessages: z.boolean(),
      sessionIdleTimeout: timeSpan,
    }),
  }),
});

export type HostSettings = z.infer<typeof hostJsonSchema>;

/** Reads host.json, the same file the Azure Functions host reads, so local runs use its settings. */
export function readHostJson(path: string): HostSettings {
  return hostJsonSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
}
