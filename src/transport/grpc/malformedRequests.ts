import * as grpc from '@grpc/grpc-js';

/** A request message that did not decode, passed to the handler in place of the message. */
class MalformedRequest {
  constructor(readonly reason: string) {}
}

/**
 * grpc-js answers a request message it cannot decode with INTERNAL, which reads as a broker bug and hides the
 * client's mistake. Every unary and server-streaming method added to `server` from here on answers
 * INVALID_ARGUMENT instead. (Client-streaming methods, i.e. reflection, keep grpc-js's handling.)
 */
export function rejectMalformedRequests(server: grpc.Server): void {
  const addService = server.addService.bind(server);
  server.addService = (service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation) => {
    const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
    const impl: grpc.UntypedServiceImplementation = { ...implementation };
    for (const [name, method] of Object.entries(service)) {
      const original = (implementation[name] ?? (method.originalName ? implementation[method.originalName] : undefined)) as
        | grpc.handleUnaryCall<unknown, unknown>
        | grpc.handleServerStreamingCall<unknown, unknown>
        | undefined;
      if (method.requestStream || original === undefined) {
        def[name] = method;
        continue;
      }
      def[name] = {
        ...method,
        requestDeserialize: (bytes: Buffer) => {
          try {
            return method.requestDeserialize(bytes);
          } catch (err) {
            return new MalformedRequest(err instanceof Error ? err.message : String(err));
          }
        },
      };
      const refusal = (request: MalformedRequest) => ({ code: grpc.status.INVALID_ARGUMENT, details: `Malformed request message: ${request.reason}` });
      impl[name] = method.responseStream
        ? (((call) => {
            if (call.request instanceof MalformedRequest) call.emit('error', refusal(call.request));
            else (original as grpc.handleServerStreamingCall<unknown, unknown>)(call);
          }) satisfies grpc.handleServerStreamingCall<unknown, unknown>)
        : (((call, callback) => {
            if (call.request instanceof MalformedRequest) callback(refusal(call.request));
            else (original as grpc.handleUnaryCall<unknown, unknown>)(call, callback);
          }) satisfies grpc.handleUnaryCall<unknown, unknown>);
    }
    addService(def as grpc.ServiceDefinition, impl);
  };
}
