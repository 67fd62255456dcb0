import * as grpc from '@grpc/grpc-js';

/** A request message that did not decode, passed to the handler in place of the message. */
class MalformedRequest {
  constructor(readonly reason: string) {}
}

/**
 * grpc-js answers a request message it cannot decode with INTERNAL, which reads as a broker bug and hides the
 * client's mistake. Every unary method added to `server` from here on answers INVALID_ARGUMENT instead.
 * (Streaming methods, i.e. reflection, keep grpc-js's handling.)
 */
export function rejectMalformedRequests(server: grpc.Server): void {
  const addService = server.addService.bind(server);
  server.addService = (service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation) => {
    const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
    const impl: grpc.UntypedServiceImplementation = { ...implementation };
    for (const [name, method] of Object.entries(service)) {
      const original = (implementation[name] ?? (method.originalName ? implementation[method.originalName] : undefined)) as
        | grpc.handleUnaryCall<unknown, unknown>
        | undefined;
      if (method.requestStream || method.responseStream || original === undefined) {
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
      impl[name] = ((call, callback) => {
        if (call.request instanceof MalformedRequest) {
          callback({ code: grpc.status.INVALID_ARGUMENT, details: `Malformed request message: ${call.request.reason}` });
          return;
        }
        original(call, callback);
      }) satisfies grpc.handleUnaryCall<unknown, unknown>;
    }
    addService(def as grpc.ServiceDefinition, impl);
  };
}
