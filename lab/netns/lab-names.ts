// Names of everything a lab creates. Lab, site and host names are DNS labels ([a-z0-9-]),
// so `.` and `_` below can never come from a name: lab "a" never matches lab "a-b"'s objects.

export const NETNS_PREFIX = 'imlab-';
export const DEFAULT_STATE_BASE = '/run/ipsec-mesh-lab';

export const hostNetns = (lab: string, host: string): string => `${NETNS_PREFIX}${lab}.${host}`;
/** Holds one bridge per site. */
export const switchNetns = (lab: string): string => `${NETNS_PREFIX}${lab}_sw`;
/** Joins the site bridges and the operator link; forwards IPv4 and IPv6. */
export const routerNetns = (lab: string): string => `${NETNS_PREFIX}${lab}_rt`;
/** Where an operator (ssh, the Pulumi engine) reaches the hosts from, through the router. */
export const operatorNetns = (lab: string): string => `${NETNS_PREFIX}${lab}_op`;

/** True for every namespace name lab `lab` can have made. */
export function isLabNetns(lab: string, netns: string): boolean {
  return (
    netns.startsWith(`${NETNS_PREFIX}${lab}.`) ||
    netns === switchNetns(lab) ||
    netns === routerNetns(lab) ||
    netns === operatorNetns(lab)
  );
}

// Interface names (max 15 chars) inside the lab's own namespaces.
export const siteBridge = (siteIndex: number): string => `br${siteIndex}`;
export const hostPort = (hostIndex: number): string => `h${hostIndex}`; // switch side of a host's veth
export const routerPort = (siteIndex: number): string => `r${siteIndex}`; // switch side of the router's veth
export const routerSiteIf = (siteIndex: number): string => `site${siteIndex}`; // router side
export const HOST_IF = 'eth0';
export const ROUTER_OPERATOR_IF = 'op0';
export const OPERATOR_IF = 'eth0';
