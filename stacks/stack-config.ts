// The stack program's config reader lives in the library (components/mesh/stack-settings.ts)
// so that `ipsec-mesh render --stack` reads the same keys the same way.
export * from '../components/mesh/stack-settings.js';
