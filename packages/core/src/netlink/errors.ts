// Netlink's own failures: the kernel refused a request (NLMSG_ERROR), bytes that do not parse,
// a dump the kernel interrupted, a reply that never came. Failures of libc calls themselves are
// SyscallError (../base/errno.ts). Every one is a NetbootError with a kind: the kernel's refusals
// are classified by their errno (base/errno.ts says which is which).
import { type ErrorKind, InvalidInputError, NetbootError } from '../base/errors.js';
import { errnoKind, errnoName, errnoText } from '../base/errno.js';
import type { NlMessage } from './codec.js';

export interface NetlinkErrorInit {
  /** Positive errno (the kernel sends it negated). */
  errno: number;
  /** Request type by kernel name (`RTM_NEWLINK`), or `#<n>` for a type without one. */
  op: string;
  seq: number;
  /** NLMSGERR_ATTR_MSG: the kernel's extended-ack text, when it sent one. */
  extack?: string | undefined;
  /** NLMSGERR_ATTR_OFFS: byte offset of the offending attribute inside the request. */
  extackOffset?: number | undefined;
}

/**
 * The kernel answered a request with NLMSG_ERROR. The message keeps the kernel's own words; `kind`
 * comes from the errno (EEXIST exists, ENODEV not-found, EBUSY conflict, EINVAL invalid, …).
 */
export class NetlinkError extends NetbootError {
  readonly kind: ErrorKind;
  readonly errno: number;
  readonly code: string;
  readonly op: string;
  readonly seq: number;
  readonly extack: string | undefined;
  readonly extackOffset: number | undefined;

  constructor(init: NetlinkErrorInit) {
    const code = errnoName(init.errno);
    super(`${init.op}: ${code} (${errnoText(init.errno)})${init.extack ? `: ${init.extack}` : ''}`);
    this.kind = errnoKind(code);
    this.errno = init.errno;
    this.code = code;
    this.op = init.op;
    this.seq = init.seq;
    this.extack = init.extack;
    this.extackOffset = init.extackOffset;
  }
}

/** The object already exists (`ip … add` of something present). */
export function isExist(e: unknown): e is NetlinkError {
  return e instanceof NetlinkError && e.kind === 'exists';
}

/** The object (link, address, route, neighbour) is not there; deletes treat this as done. */
export function isNotFound(e: unknown): e is NetlinkError {
  return e instanceof NetlinkError && e.kind === 'not-found';
}

/** The kernel refused because the object is in use. */
export function isBusy(e: unknown): e is NetlinkError {
  return e instanceof NetlinkError && e.kind === 'conflict';
}

/** Where in a datagram decoding failed. `path` is the attribute chain from the message down. */
export interface DecodeContext {
  /** Message type by kernel name (`RTM_NEWROUTE`) or `#<n>`; undefined before a header was read. */
  messageType?: string | undefined;
  path: readonly string[];
  /** Byte offset inside the buffer handed to the decoder. */
  offset: number;
}

/** Bytes that are not a well-formed netlink message. The decoder throws nothing else. */
export class NetlinkDecodeError extends NetbootError {
  readonly kind = 'internal' as const;
  readonly reason: string;
  readonly context: DecodeContext;

  constructor(reason: string, context: DecodeContext) {
    const where = [context.messageType ?? 'datagram', ...context.path].join(' > ');
    super(`cannot decode ${where} at offset ${context.offset}: ${reason}`);
    this.reason = reason;
    this.context = context;
  }
}

/**
 * A message that cannot be put on the wire (a type without a schema, a wrong value type, out of
 * range, an unknown attribute). Nothing was sent.
 */
export class NetlinkEncodeError extends NetbootError {
  readonly kind = 'invalid' as const;
  readonly path: readonly string[];

  constructor(reason: string, path: readonly string[]) {
    super(`cannot encode ${path.join(' > ')}: ${reason}`);
    this.path = path;
  }
}

/** The kernel kept flagging the dump NLM_F_DUMP_INTR (the table changed while it was read). */
export class DumpInterruptedError extends NetbootError {
  readonly kind = 'unavailable' as const;
  /** What the last attempt returned: possibly inconsistent, never empty of meaning. */
  readonly partial: NlMessage[];
  readonly attempts: number;

  constructor(op: string, attempts: number, partial: NlMessage[]) {
    super(`${op}: dump interrupted by concurrent changes ${attempts} times; giving up`);
    this.partial = partial;
    this.attempts = attempts;
  }
}

/** No reply within the socket's receive timeout (SO_RCVTIMEO). */
export class NetlinkTimeoutError extends NetbootError {
  readonly kind = 'unavailable' as const;
  readonly op: string;
  readonly timeoutMs: number;

  constructor(op: string, timeoutMs: number) {
    super(`${op}: no reply from the kernel within ${timeoutMs} ms`);
    this.op = op;
    this.timeoutMs = timeoutMs;
  }
}

/** An option of the socket or the monitor that cannot work (a timeout of 0, no groups). Nothing was opened. */
export class NetlinkOptionsError extends InvalidInputError {}

/** A call on a socket after close(): a bug in the caller's lifetime handling. */
export class SocketClosedError extends NetbootError {
  readonly kind = 'internal' as const;

  constructor() {
    super('netlink socket is closed');
  }
}

/** The generated bindings and the schema tables disagree: a build problem, found when the module loads. */
export class NetlinkSchemaError extends NetbootError {
  readonly kind = 'internal' as const;
}
