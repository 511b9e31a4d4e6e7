import { ContainerServiceFleetClient, type ContainerServiceFleetClientOptionalParams } from '@azure/arm-containerservicefleet';
import { DefaultAzureCredential } from '@azure/identity';

export const sub1 = '00000000-0000-0000-0000-000000000001';
export const sub2 = '00000000-0000-0000-0000-000000000002';
export const foreignSub = '00000000-0000-0000-0000-0000000000f1';
export const aks = (sub: string, rg: string, name: string) =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.ContainerService/managedClusters/${name}`;
export const eastus1 = aks(sub1, 'rg-eastus', 'aks-eastus-1');
export const eastus2 = aks(sub1, 'rg-eastus', 'aks-eastus-2');
export const westeurope1 = aks(sub2, 'rg-westeurope', 'aks-westeurope-1');
export const westeurope2 = aks(sub2, 'rg-westeurope', 'aks-westeurope-2');
export const fabrikam = aks(foreignSub, 'rg-fabrikam', 'aks-fabrikam');
export const arc = `/subscriptions/${sub1}/resourceGroups/rg-onprem/providers/Microsoft.Kubernetes/connectedClusters/arc-onprem-1`;

/** The official client, authenticated as a user of `npm start` would: DefaultAzureCredential over the printed identity endpoint. */
export function fleetClient(env: Record<string, string>, subscriptionId = env.AZURE_SUBSCRIPTION_ID, options: ContainerServiceFleetClientOptionalParams = {}) {
  process.env.IDENTITY_ENDPOINT = env.IDENTITY_ENDPOINT;
  process.env.IDENTITY_HEADER = env.IDENTITY_HEADER;
  return new ContainerServiceFleetClient(new DefaultAzureCredential(), subscriptionId, { ...options, endpoint: env.FLEET_API });
}

export const fast = { updateIntervalInMs: 50 };

export async function tokenFor(env: Record<string, string>, resource: string): Promise<string> {
  const url = `${env.IDENTITY_ENDPOINT}?resource=${encodeURIComponent(resource)}&api-version=2019-08-01`;
  const res = await fetch(url, { headers: { 'X-IDENTITY-HEADER': env.IDENTITY_HEADER } });
  if (!res.ok) throw new Error(`token endpoint answered ${res.status}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** A raw ARM request, for what the official client will not send (bad input, missing tokens). */
export async function arm(
  env: Record<string, string>,
  method: string,
  path: string,
  options: { body?: unknown; rawBody?: string; token?: string | null; headers?: Record<string, string>; apiVersion?: string | null } = {},
) {
  const token = options.token === undefined ? await tokenFor(env, env.FLEET_API) : options.token;
  const url = new URL(path, env.FLEET_API);
  const apiVersion = options.apiVersion === undefined ? '2025-03-01' : options.apiVersion;
  if (apiVersion !== null) url.searchParams.set('api-version', apiVersion);
  const res = await fetch(url, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json', ...(options.headers ?? {}) },
    body: options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

export const fleetPath = (rg: string, fleet: string, sub = sub1) =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.ContainerService/fleets/${fleet}`;
