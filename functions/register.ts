// The Azure Functions entry point (package.json "main"): registers every definition with app.*.
import { app } from './azfn.js';
import { functionDefinitions } from './index.js';

// Hub watches stream their events (the response starts at once and stays open).
app.setup({ enableHttpStream: true });

for (const def of functionDefinitions) {
  if (def.kind === 'http') {
    app.http(def.name, { route: def.route, methods: def.methods, authLevel: 'anonymous', handler: def.handler });
  } else if (def.kind === 'timer') {
    app.timer(def.name, { schedule: def.schedule, handler: def.handler });
  } else if (def.kind === 'eventGrid') {
    app.eventGrid(def.name, { handler: def.handler });
  } else {
    const { queueName, connection, isSessionsEnabled, cardinality, handler } = def;
    app.serviceBusQueue(def.name, { queueName, connection, isSessionsEnabled, cardinality, handler });
  }
}
