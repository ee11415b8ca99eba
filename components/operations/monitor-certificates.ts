// The certificates the liveness monitor reports expiry for, read from `swanctl --list-certs
// --type x509 --utc` (text: the monitor runs on hosts with no openssl to read PEM). Only the
// mesh's own: the host's certificate (an end-entity certificate charon holds the private key
// of) and the mesh's CAs (by the subject ipsec-mesh gives them). The monitor's awk does the
// same (CERTS_AWK in monitor-script.ts); the unit tests hold both to the same output.
import { caSubject } from '../credentials/certificate-profile.js';

export interface MonitoredCertificate {
  readonly role: 'host' | 'ca';
  /** As strongSwan prints it; `"` and `\` dropped (a Prometheus label value). */
  readonly subject: string;
  /** notAfter, epoch seconds. */
  readonly notAfter: number;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** How the subject of the mesh's CA certificates begins (`O=ipsec-mesh, CN=<mesh> mesh CA `). */
export function meshCaSubjectPrefix(mesh: string): string {
  const s = caSubject(mesh, '');
  return `O=${s.organization}, CN=${s.commonName}`;
}

/** strongSwan's `%T` with --utc: `Dec 06 05:00:00 UTC 2027` → epoch seconds. */
function utcTime(text: string): number | undefined {
  const m = /^(\w{3}) (\d{2}) (\d{2}):(\d{2}):(\d{2}) UTC (\d{4})/.exec(text);
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[1]!);
  if (month < 0) return undefined;
  return Date.UTC(Number(m[6]), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])) / 1000;
}

export function parseMonitoredCertificates(listCerts: string, mesh: string): MonitoredCertificate[] {
  const caPrefix = meshCaSubjectPrefix(mesh);
  const out: MonitoredCertificate[] = [];
  let section = '';
  let cur: { subject: string; ca: boolean; notAfter?: number; privateKey: boolean } | undefined;
  const flush = (): void => {
    if (cur?.notAfter !== undefined) {
      const role = cur.ca ? (cur.subject.startsWith(caPrefix) ? 'ca' : undefined) : cur.privateKey ? 'host' : undefined;
      if (role !== undefined) out.push({ role, subject: cur.subject.replace(/["\\]/g, ''), notAfter: cur.notAfter });
    }
    cur = undefined;
  };
  for (const line of listCerts.split('\n')) {
    if (line.startsWith('List of ')) {
      flush();
      section = line;
      continue;
    }
    const subject = /^ {2}subject: {2}"(.*)"$/.exec(line);
    if (subject) {
      flush();
      cur = { subject: subject[1]!, ca: section.endsWith('CA Certificates'), privateKey: false };
      continue;
    }
    if (cur === undefined) continue;
    const notAfter = /^ +not after {2}(.*)$/.exec(line);
    if (notAfter) cur.notAfter = utcTime(notAfter[1]!);
    if (line.includes('has private key')) cur.privateKey = true;
  }
  flush();
  return out;
}
