import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureLocalTls } from '../../local/certs.js';

export default function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-test-'));
  const tls = ensureLocalTls(join(dir, 'tls'));
  process.env.NODE_EXTRA_CA_CERTS = tls.caPath;
  // The stacks the tests start live here too, so `npm start` in a test uses the same CA.
  process.env.FLEET_TEST_DIR = dir;
  // The stacks' state folders (journals, snapshots) go with it when the run ends.
  return () => rmSync(dir, { recursive: true, force: true });
}
