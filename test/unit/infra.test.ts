// infra/ must declare what the code needs, by the names the code uses. There is no Bicep compiler
// here, so these checks read the templates as text.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { functionDefinitions } from '../../functions/index.js';
import { infraConfig, settings } from '../../shared/config.js';

const read = (p: string) => readFileSync(p, 'utf8');
const main = read('infra/main.bicep');
const functionApp = read('infra/modules/functionapp.bicep');
const serviceBus = read('infra/modules/servicebus.bicep');
const storage = read('infra/modules/storage.bicep');
const allBicep = [
  main,
  functionApp,
  serviceBus,
  storage,
  read('infra/modules/monitoring.bicep'),
  read('infra/modules/identity.bicep'),
  read('infra/modules/subscription-reader.bicep'),
  read('infra/modules/cluster-events.bicep'),
  read('infra/modules/cluster-events-topic.bicep'),
].join('\n');
const config = infraConfig();

describe('infra/app-config.json', () => {
  it('is what shared/config.ts says (run `npm run infra:config` after changing names or queue settings)', () => {
    expect(JSON.parse(read('infra/app-config.json'))).toEqual(config);
  });
  it('is what main.bicep reads and hands to the modules', () => {
    expect(main).toContain("loadJsonContent('app-config.json')");
    for (const use of ['queues: config.queues', 'tables: config.tables', 'settingNames: config.settings', 'hostSettingNames: config.hostSettings'])
      expect(main).toContain(use);
  });
});

describe('Service Bus', () => {
  it('creates every queue with every property the code assumes', () => {
    expect(serviceBus).toMatch(/resource queue '[^']+' = \[for q in queues: \{/);
    for (const key of Object.keys(config.queues[0].properties)) expect(serviceBus).toContain(`${key}: q.properties.${key}`);
  });
  it('is Standard or Premium (sessions and duplicate detection) with SAS keys off', () => {
    expect(serviceBus).toMatch(/sku: \{ name: '(Standard|Premium)'/);
    expect(serviceBus).toContain('disableLocalAuth: true');
  });
});

describe('storage', () => {
  it('creates the state tables and allows no shared keys', () => {
    expect(storage).toMatch(/resource stateTables '[^']+' = \[for table in tables: \{/);
    expect(storage).toContain('allowSharedKeyAccess: false');
  });
});

describe('the function app', () => {
  const referenced = [...functionApp.matchAll(/settingNames\.(\w+)/g)].map((m) => m[1]);
  const hostReferenced = [...functionApp.matchAll(/hostSettingNames\.(\w+)/g)].map((m) => m[1]);

  it('sets only settings the code declares, and every setting without a default', () => {
    for (const key of referenced) expect(Object.keys(config.settings)).toContain(key);
    for (const key of hostReferenced) expect(Object.keys(config.hostSettings)).toContain(key);
    for (const [key, s] of Object.entries(settings)) if (s.default === undefined) expect(referenced, key).toContain(key);
  });

  it('sets every app setting a trigger reads as %SETTING%', async () => {
    const { functionDefinitions } = await import('../../functions/index.js');
    const keyOf = Object.fromEntries(Object.entries(settings).map(([k, v]) => [v.name, k]));
    for (const def of functionDefinitions) {
      if (def.kind !== 'timer') continue;
      const m = /^%(\w+)%$/.exec(def.schedule);
      if (m) expect(referenced, m[1]).toContain(keyOf[m[1]]);
    }
  });

  it('connects with its identity only: no keys or connection strings with secrets', () => {
    expect(functionApp).toContain('${settingNames.stateStorage}__tableServiceUri');
    expect(functionApp).toContain('${settingNames.serviceBusConnection}__fullyQualifiedNamespace');
    expect(functionApp).toContain('${hostSettingNames.hostStorage}__accountName');
    for (const secret of ['AccountKey=', 'SharedAccessKey=', 'listKeys(', 'listKeys (', 'InstrumentationKey=']) expect(allBicep).not.toContain(secret);
    expect(functionApp).toContain("type: 'UserAssigned'");
    expect(functionApp).toMatch(/runtime: \{ name: 'node', version: '(2\d)' \}/);
    expect(functionApp).toContain("tier: 'FlexConsumption'");
  });

  it('grants the narrowest built-in roles, never Owner or Contributor', () => {
    const roles: Record<string, string> = {
      'Storage Blob Data Owner (host storage)': 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
      'Storage Table Data Contributor (state)': '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
      'Azure Service Bus Data Sender': '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39',
      'Azure Service Bus Data Receiver': '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0',
      'Reader (member subscriptions)': 'acdd72a7-3385-48ef-bd42-f606fba81ae7',
    };
    for (const [role, id] of Object.entries(roles)) expect(allBicep, role).toContain(id);
    for (const broad of ['8e3af657-a8ff-443c-a75c-2fe8c4bcb635', 'b24988ac-6180-42a0-ab88-20f7382dd24c', '17d1049b-9a84-46fb-8f53-869881c3d3ab'])
      expect(allBicep).not.toContain(broad);
  });
});

describe('azd and the deploy guide', () => {
  it('azure.yaml deploys the function app main.bicep tags as service "api"', () => {
    const azure = read('azure.yaml');
    expect(azure).toMatch(/path: infra/);
    expect(azure).toMatch(/api:\s*\n\s*project: \.\s*\n\s*language: ts\s*\n\s*host: function/);
    expect(main).toContain("'azd-service-name': 'api'");
  });
  it('names every parameter of main.bicep in the deploy guide', () => {
    const deploy = read('docs/deploy.md');
    expect(deploy.length).toBeGreaterThan(100);
    for (const [, name] of main.matchAll(/^param (\w+)/gm)) expect(deploy, name).toContain(`\`${name}\``);
  });
  it('main.parameters.json passes the parameters azd must supply', () => {
    const params = JSON.parse(read('infra/main.parameters.json')).parameters;
    for (const name of ['environmentName', 'location', 'apiAudience']) expect(Object.keys(params)).toContain(name);
    for (const name of Object.keys(params)) expect(main).toMatch(new RegExp(`^param ${name} `, 'm'));
  });
});

describe('Event Grid', () => {
  it("subscribes the Event Grid function to each member subscription's ARM events about managed clusters", () => {
    const names = functionDefinitions.filter((d) => d.kind === 'eventGrid').map((d) => d.name);
    expect(names).toEqual(['cluster-events']);
    expect(main).toMatch(/module clusterEvents 'modules\/cluster-events.bicep' = \[for sub in memberSubscriptions: \{/);
    expect(main).toContain(`functionName: '${names[0]}'`);
    const topic = read('infra/modules/cluster-events-topic.bicep');
    expect(topic).toContain("topicType: 'Microsoft.Resources.Subscriptions'");
    expect(topic).toContain("endpointType: 'AzureFunction'");
    expect(topic).toContain("resourceId: '${functionAppId}/functions/${functionName}'");
    for (const t of ['Microsoft.Resources.ResourceWriteSuccess', 'Microsoft.Resources.ResourceDeleteSuccess']) expect(topic).toContain(`'${t}'`);
    for (const op of ['Microsoft.ContainerService/managedClusters/write', 'Microsoft.ContainerService/managedClusters/delete'])
      expect(topic).toContain(`'${op}'`);
  });
});
