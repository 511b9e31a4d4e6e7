// A local certificate authority and one loopback server certificate signed by it. The official
// ARM clients send Bearer tokens only over https, so the API and the ARM emulation serve TLS;
// clients trust the CA through NODE_EXTRA_CA_CERTS (or tlsOptions.ca).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';

export interface LocalTls {
  caPath: string;
  caPem: string;
  certPem: string;
  keyPem: string;
}

function serial(): string {
  return forge.util.bytesToHex(forge.random.getBytesSync(15)).replace(/^[89a-f]/, '1');
}

function issue(): Omit<LocalTls, 'caPath'> {
  const pki = forge.pki;
  const caKeys = pki.rsa.generateKeyPair(2048);
  const ca = pki.createCertificate();
  ca.publicKey = caKeys.publicKey;
  ca.serialNumber = serial();
  ca.validity.notBefore = new Date(Date.now() - 3600_000);
  ca.validity.notAfter = new Date(Date.now() + 5 * 365 * 24 * 3600_000);
  const caName = [{ name: 'commonName', value: 'Fleet Manager local CA' }];
  ca.setSubject(caName);
  ca.setIssuer(caName);
  ca.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  ca.sign(caKeys.privateKey, forge.md.sha256.create());

  const keys = pki.rsa.generateKeyPair(2048);
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(Date.now() - 3600_000);
  cert.validity.notAfter = new Date(Date.now() + 365 * 24 * 3600_000);
  cert.setSubject([{ name: 'commonName', value: 'localhost' }]);
  cert.setIssuer(caName);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        { type: 2, value: 'localhost' },
        { type: 7, ip: '127.0.0.1' },
        { type: 7, ip: '::1' },
      ],
    },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKeys.privateKey, forge.md.sha256.create());
  return { caPem: pki.certificateToPem(ca), certPem: pki.certificateToPem(cert), keyPem: pki.privateKeyToPem(keys.privateKey) };
}

/** Loads the CA and server certificate from `dir`, making them the first time (about a second of RSA work). */
export function ensureLocalTls(dir: string): LocalTls {
  mkdirSync(dir, { recursive: true });
  const paths = { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server-key.pem') };
  if (!existsSync(paths.ca) || !existsSync(paths.cert) || !existsSync(paths.key)) {
    const made = issue();
    writeFileSync(paths.cert, made.certPem);
    writeFileSync(paths.key, made.keyPem, { mode: 0o600 });
    writeFileSync(paths.ca, made.caPem);
  }
  return { caPath: paths.ca, caPem: readFileSync(paths.ca, 'utf8'), certPem: readFileSync(paths.cert, 'utf8'), keyPem: readFileSync(paths.key, 'utf8') };
}
