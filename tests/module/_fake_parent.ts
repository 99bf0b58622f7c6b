import * as grpc from "@grpc/grpc-js";
import { grpcTarget, serviceDefinition } from "./_viam_client.ts";

/** One LogEntry as the parent received it (proto-loader form). */
export interface ReceivedEntry {
  level: string;
  logger_name: string;
  message: string;
  time: { seconds: string; nanos: number } | null;
}

/**
 * viam-server's side of module logging: a grpc-js server on a unix socket (or, in TCP mode, a
 * loopback port) implementing `viam.robot.v1.RobotService/Log`, rejecting batches as the real one
 * does.
 */
export class FakeParent {
  /** The `logs` list of every Log call, in arrival order. */
  readonly calls: ReceivedEntry[][] = [];
  readonly #server = new grpc.Server();
  #held: (() => void)[] = [];
  #holding = false;
  #waiters: { count: number; resolve: () => void }[] = [];

  /** Where it listens: the socket path, or `127.0.0.1:<port>`; what Ready passes to the module. */
  address: string;

  private constructor(address: string) {
    this.address = address;
  }

  /**
   * Starts a parent listening on `address`: a socket path, or `127.0.0.1:0` for a free TCP port
   * ({@linkcode FakeParent.address} then holds the port).
   */
  static async start(address: string): Promise<FakeParent> {
    const parent = new FakeParent(address);
    parent.#server.addService(serviceDefinition("viam.robot.v1.RobotService"), {
      Log: (
        call: grpc.ServerUnaryCall<{ logs: ReceivedEntry[] }, unknown>,
        callback: grpc.sendUnaryData<unknown>,
      ) => parent.#log(call.request.logs, callback),
    });
    const port = await new Promise<number>((resolve, reject) =>
      parent.#server.bindAsync(
        grpcTarget(address),
        grpc.ServerCredentials.createInsecure(),
        (error, port) => error ? reject(error) : resolve(port),
      )
    );
    if (!address.startsWith("/")) parent.address = address.replace(/:0$/, `:${port}`);
    return parent;
  }

  /** Every entry received, flattened. */
  get entries(): ReceivedEntry[] {
    return this.calls.flat();
  }

  /** From now on, Log calls are answered only on {@linkcode FakeParent.release}. */
  hold(): void {
    this.#holding = true;
  }

  /** Answers held calls and stops holding. */
  release(): void {
    this.#holding = false;
    for (const answer of this.#held.splice(0)) answer();
  }

  /** Resolves once `count` Log calls have arrived. */
  received(count: number): Promise<void> {
    if (this.calls.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  /** Stops the server at once. */
  close(): void {
    this.release();
    this.#server.forceShutdown();
  }

  /**
   * Stops as a server shutting down gracefully does (viam-server's, as it stops): a GOAWAY on each
   * connection, which then ends once its calls have.
   */
  shutDown(): Promise<void> {
    this.release();
    return new Promise((resolve, reject) =>
      this.#server.tryShutdown((error) => error ? reject(error) : resolve())
    );
  }

  #log(logs: ReceivedEntry[], callback: grpc.sendUnaryData<unknown>): void {
    this.calls.push(logs);
    this.#waiters = this.#waiters.filter((waiter) => {
      if (this.calls.length < waiter.count) return true;
      waiter.resolve();
      return false;
    });
    const answer = () =>
      logs.length === 1 ? callback(null, {}) : callback({
        code: grpc.status.UNKNOWN,
        details: "LogRequest received with multiple logs; batching not yet supported",
      });
    if (this.#holding) this.#held.push(answer);
    else answer();
  }
}
