// Pulumi mocks for the component tests: records every registration (inputs as the engine
// would receive them, secrets still wrapped), answers like the real providers would in
// shape (not in cryptography), and lets a test wait until every registration is done.
import * as pulumi from '@pulumi/pulumi';

/** How the SDK marks a secret in serialized properties. */
const SIG_KEY = '4dabf18193072939515e22adb298388d';
const SECRET_SIG = '1b47061264138c4ac30d75fd1eb44270';

/** Values that must only ever appear inside secrets. Long enough to be a valid PSK master. */
export const SSH_KEY_MARKER = 'MARKER-SSH-PRIVATE-KEY-0123456789abcdef';
export const CA_KEY_MARKER = 'MARKER-CA-PRIVATE-KEY';
export const PSK_MASTER_MARKER = 'MARKER-PSK-MASTER-0123456789abcdef0123456789abcdef';

export interface Registration {
  readonly type: string;
  readonly name: string;
  readonly custom: boolean;
  /** Deserialized inputs; secrets remain `{ [SIG_KEY]: SECRET_SIG, value }`. */
  readonly inputs: Record<string, unknown>;
}

export interface Construction {
  readonly type: string;
  readonly name: string;
  readonly parent: pulumi.Resource | undefined;
  readonly dependsOn: readonly pulumi.Resource[];
  readonly additionalSecretOutputs: readonly string[];
  readonly aliases: readonly unknown[];
  readonly resource: pulumi.Resource;
}

export function isSecretWrapper(v: unknown): v is { value: unknown } {
  return typeof v === 'object' && v !== null && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

/** Removes secret wrappers (for reading values in assertions). */
export function unwrap(v: unknown): unknown {
  if (isSecretWrapper(v)) return unwrap(v.value);
  if (Array.isArray(v)) return v.map(unwrap);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
  return v;
}

export interface Occurrence {
  readonly path: string;
  readonly marker: string;
  readonly inSecret: boolean;
}

/** Every string under `v` containing one of `markers`, with whether it sits inside a secret. */
export function findMarkers(v: unknown, markers: readonly string[], path = '', inSecret = false): Occurrence[] {
  if (isSecretWrapper(v)) return findMarkers(v.value, markers, path, true);
  if (typeof v === 'string') return markers.filter((m) => v.includes(m)).map((marker) => ({ path, marker, inSecret }));
  if (Array.isArray(v)) return v.flatMap((x, i) => findMarkers(x, markers, `${path}[${i}]`, inSecret));
  if (typeof v === 'object' && v !== null) {
    return Object.entries(v).flatMap(([k, x]) => findMarkers(x, markers, path === '' ? k : `${path}.${k}`, inSecret));
  }
  return [];
}

/** True when any secret wrapper occurs under `v`. */
export function containsSecret(v: unknown): boolean {
  if (isSecretWrapper(v)) return true;
  if (Array.isArray(v)) return v.some(containsSecret);
  if (typeof v === 'object' && v !== null) return Object.values(v).some(containsSecret);
  return false;
}

function fakeState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  switch (type) {
    case 'tls:index/privateKey:PrivateKey':
      // Returned in the clear on purpose: the components must make it secret themselves.
      return { ...inputs, privateKeyPem: `${CA_KEY_MARKER}:${name}`, publicKeyPem: `PUBLIC:${name}` };
    case 'tls:index/selfSignedCert:SelfSignedCert':
      return { ...inputs, certPem: `-----BEGIN CERTIFICATE-----\nCA:${name}\n-----END CERTIFICATE-----\n` };
    case 'tls:index/locallySignedCert:LocallySignedCert':
      return { ...inputs, certPem: `-----BEGIN CERTIFICATE-----\nHOST:${name}\n-----END CERTIFICATE-----\n` };
    case 'random:index/randomPassword:RandomPassword':
      return { ...inputs, result: PSK_MASTER_MARKER };
    case 'command:remote:Command':
      return {
        ...inputs,
        stdout: name.endsWith('-host-key') ? `-----BEGIN CERTIFICATE REQUEST-----\nCSR:${name}\n-----END CERTIFICATE REQUEST-----` : '',
        stderr: '',
      };
    default:
      return inputs;
  }
}

export interface MockRun {
  readonly registrations: Registration[];
  readonly constructions: Construction[];
  /** Pass as `transformations` on the root component: records parent/dependsOn of every resource. */
  readonly transformation: pulumi.ResourceTransformation;
  /** Waits until every registration (and registerOutputs) has reached the mock monitor. */
  settle(): Promise<void>;
  /** Registered outputs of a component (serialized form: secrets still wrapped). */
  componentOutputs(type: string, name: string): Record<string, unknown> | undefined;
  custom(type?: string): Registration[];
  components(type?: string): Registration[];
  one(type: string, name: string): Registration;
}

interface MonitorState {
  getRegisteredResources(): Map<string, { urn: string; state: unknown }>;
}

/** Fresh mocks for one scenario. */
export async function startMocks(): Promise<MockRun> {
  const registrations: Registration[] = [];
  const constructions: Construction[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs): { id: string | undefined; state: Record<string, unknown> } {
        const inputs = args.inputs as Record<string, unknown>;
        registrations.push({ type: args.type, name: args.name, custom: args.custom ?? false, inputs });
        return { id: args.custom ? `${args.name}-id` : undefined, state: args.custom ? fakeState(args.type, args.name, unwrap(inputs) as Record<string, unknown>) : {} };
      },
      call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
        throw new Error(`unexpected invoke ${args.token}`);
      },
    },
    'ipsec-mesh-test',
    'unit',
    false,
  );
  const transformation: pulumi.ResourceTransformation = (a) => {
    const deps = a.opts.dependsOn;
    constructions.push({
      type: a.type,
      name: a.name,
      parent: a.opts.parent,
      dependsOn: deps === undefined ? [] : Array.isArray(deps) ? (deps as pulumi.Resource[]) : [deps as pulumi.Resource],
      additionalSecretOutputs: (a.opts as pulumi.CustomResourceOptions).additionalSecretOutputs ?? [],
      aliases: (a.opts.aliases ?? []) as unknown[],
      resource: a.resource,
    });
    return undefined;
  };
  const runtime = pulumi.runtime as unknown as { waitForRPCs(): Promise<void>; getMonitor(): MonitorState | undefined };
  const run: MockRun = {
    registrations,
    constructions,
    transformation,
    settle: () => runtime.waitForRPCs(),
    componentOutputs(type, name) {
      const monitor = runtime.getMonitor();
      if (monitor === undefined) return undefined;
      for (const [urn, r] of monitor.getRegisteredResources()) {
        if (urn.endsWith(`${type}::${name}`)) {
          const s = r.state as { toJavaScript?: () => Record<string, unknown> };
          return typeof s.toJavaScript === 'function' ? s.toJavaScript() : (s as Record<string, unknown>);
        }
      }
      return undefined;
    },
    custom: (type) => registrations.filter((r) => r.custom && (type === undefined || r.type === type)),
    components: (type) => registrations.filter((r) => !r.custom && (type === undefined || r.type === type)),
    one(type, name) {
      const hits = registrations.filter((r) => r.type === type && r.name === name);
      if (hits.length !== 1) throw new Error(`expected one ${type} named ${name}, found ${hits.length}`);
      return hits[0]!;
    },
  };
  return run;
}
