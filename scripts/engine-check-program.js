// The engine smoke check's program (scripts/build-engine.sh --check): every provider, offline.
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import * as command from "@pulumi/command";

const cfg = new pulumi.Config();
const dir = cfg.require("dir");

// The brief's smoke resources.
const password = new random.RandomPassword("password", { length: 24, keepers: { gen: cfg.require("gen") } });
const key = new tls.PrivateKey("key", { algorithm: "ECDSA", ecdsaCurve: "P384" });
const hi = new command.local.Command("hi", { create: "echo hi" });
export const stdout = hi.stdout;
export const curve = key.ecdsaCurve;
export const publicKey = key.publicKeyPem;
export const passwordLength = password.result.apply((r) => r.length);
export const passwordValue = password.result;

// A CA (path length 0) and a host certificate for IPsec, as the mesh uses them.
const caKey = new tls.PrivateKey("ca-key", { algorithm: "ECDSA", ecdsaCurve: "P384" });
const ca = new tls.SelfSignedCert("ca", {
  privateKeyPem: caKey.privateKeyPem,
  subject: { commonName: "check CA", organization: "ipsec-mesh" },
  isCaCertificate: true,
  maxPathLength: 0,
  validityPeriodHours: 24,
  allowedUses: ["cert_signing", "crl_signing"],
});
const hostKey = new tls.PrivateKey("host-key", { algorithm: "ECDSA", ecdsaCurve: "P384" });
const csr = new tls.CertRequest("host-csr", {
  privateKeyPem: hostKey.privateKeyPem,
  subject: { commonName: "host1.example.net" },
  dnsNames: ["host1.example.net"],
  ipAddresses: ["198.51.100.1", "2001:db8::1"],
});
const cert = new tls.LocallySignedCert("host-cert", {
  certRequestPem: csr.certRequestPem,
  caPrivateKeyPem: caKey.privateKeyPem,
  caCertPem: ca.certPem,
  validityPeriodHours: 24,
  allowedUses: ["digital_signature", "key_encipherment", "ipsec_end_system", "server_auth"],
});
export const caPem = ca.certPem;
export const certPem = cert.certPem;

// Lifecycle: every script appends to a log the check reads.
const log = `${dir}/lifecycle.log`;
const life = new command.local.Command("life", {
  create: `echo "create $V" >> ${log}; echo "out-$V"`,
  update: `echo "update $V prev=$PULUMI_COMMAND_STDOUT" >> ${log}; echo "out-$V"`,
  delete: `echo "delete prev=$PULUMI_COMMAND_STDOUT" >> ${log}`,
  environment: { V: cfg.require("v") },
  triggers: [cfg.require("t")],
});
export const lifeStdout = life.stdout;

// remote.Command over SSH with a pinned host key, stdin and an accepted variable.
const sshPort = cfg.getNumber("sshPort");
let remoteOut;
if (sshPort !== undefined) {
  const remote = new command.remote.Command("remote", {
    connection: {
      host: "127.0.0.1",
      port: sshPort,
      user: cfg.require("sshUser"),
      privateKey: cfg.requireSecret("sshKey"),
      hostKey: cfg.require("hostKey"),
      dialErrorLimit: 3,
    },
    create: `umask 077; cat > ${dir}/remote.out; echo "env=$IPSEC_MESH_CHECK"`,
    stdin: "payload over stdin",
    environment: { IPSEC_MESH_CHECK: "accepted" },
    addPreviousOutputInEnv: false,
  });
  remoteOut = remote.stdout;
}
export const remoteStdout = remoteOut;
