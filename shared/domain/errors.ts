/** A failure with the ARM error code and HTTP status a client should see. */
export class ArmError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly target?: string,
  ) {
    super(message);
    this.name = 'ArmError';
  }
}

export interface ErrorDetail {
  code: string;
  message: string;
  target?: string;
}

export const badRequest = (code: string, message: string, target?: string) => new ArmError(code, 400, message, target);
export const notFound = (code: string, message: string) => new ArmError(code, 404, message);
export const conflict = (code: string, message: string) => new ArmError(code, 409, message);
export const preconditionFailed = (message: string) => new ArmError('PreconditionFailed', 412, message);
