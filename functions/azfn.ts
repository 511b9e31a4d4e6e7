// @azure/functions is a CommonJS bundle whose named exports Node's ESM loader cannot see
// (Azure/azure-functions-nodejs-library#287): take the runtime values from the default export here,
// and import types from the package directly.
import azfn from '@azure/functions';

export const { app, HttpRequest, HttpResponse, InvocationContext } = azfn;
