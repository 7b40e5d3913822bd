// libuv's pipe and stream handles as Node's internal bindings expose them (process.binding('pipe_wrap')
// and 'stream_wrap': deprecated in documentation only, DEP0111, and on Node's allow list). Both ends of
// the CNI server's socket use them directly: node:net would load and compile Node's socket and stream
// layers in every shim (8 ms of CPU per call against 1.5 ms) and cost the server ~0.5 ms per call.
// Part of the shim's forwarded path, so compiled eagerly as forward.ts explains.
// biome-ignore-all format: the parentheses around function expressions make V8 compile them eagerly (forward.ts)
// biome-ignore-all lint/complexity/useArrowFunction: V8 compiles parenthesised `function` expressions eagerly, arrows not (forward.ts)

/** libuv's pipe handle, the part of it the shim (client) and the server use. */
export interface PipeHandle {
  /** The descriptor (Linux), for SO_PEERCRED. */
  readonly fd: number;
  bind(path: string): number;
  listen(backlog: number): number;
  onconnection: (status: number, client: PipeHandle | undefined) => void;
  connect(req: { oncomplete(status: number): void }, path: string): number;
  readStart(): number;
  /** The bytes read are at streamBaseState[kArrayBufferOffset], their count (or a negative errno) at [kReadBytesOrError]. */
  onread: (buffer: ArrayBuffer | undefined) => void;
  writeUtf8String(req: object, text: string): number;
  close(): void;
}

export interface PipeBindings {
  pipe: {
    Pipe: new (type: number) => PipeHandle;
    PipeConnectWrap: new () => { oncomplete(status: number): void };
    constants: { SOCKET: number; SERVER: number };
  };
  stream: {
    WriteWrap: new () => Record<string, unknown>;
    streamBaseState: Int32Array;
    kReadBytesOrError: number;
    kArrayBufferOffset: number;
    kLastWriteWasAsync: number;
  };
}

/** The bindings; throws where this Node has them no more (the caller then runs the call in-process). */
export const pipeBindings = (function pipeBindings(): PipeBindings {
  const node = process as unknown as { binding(name: string): unknown }; // untyped in @types/node
  return { pipe: node.binding('pipe_wrap') as PipeBindings['pipe'], stream: node.binding('stream_wrap') as PipeBindings['stream'] };
});
