// A Transport that records instead of talking to the kernel (like mdlayher/netlink's `nltest`): the
// typed APIs (LinkApi, AddrApi, RouteApi, NeighApi) run against it unchanged, and a test reads what
// they would have sent and decides what the "kernel" answers. Pure: it never opens a socket.
//
// Requests and replies both go through the codec (encode, then decode), so a test sees the request
// as the kernel would receive it, a request the codec refuses fails here as it would on a socket,
// and the APIs see replies exactly as the codec would hand them over.
import { decodeMessages, encodeMessage, type NlMessage } from '../netlink/codec.js';
import { NetlinkError } from '../netlink/errors.js';
import { NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST } from '../netlink/generated/index.js';
import { messageTypeName } from '../netlink/schema.js';
import type { Request, Transport } from '../netlink/socket.js';

/** A canned reply: a message type plus whatever header and attributes it carries (the rest defaults to 0/empty). */
export type CannedReply = Pick<NlMessage, 'type'> & Partial<Omit<NlMessage, 'type'>>;

/** What the recorder answers a request with: replies (none = a plain ACK), or an error to throw. */
export type Answer = readonly CannedReply[] | Error | ((req: NlMessage) => readonly CannedReply[] | Error);

/** Which requests a rule answers: a message type (RTM_GETLINK…) or a predicate over the recorded request. */
export type RequestMatch = number | ((req: NlMessage) => boolean);

interface Rule {
  match: RequestMatch;
  answer: Answer;
}

export class RequestRecorder implements Transport {
  /**
   * Every request, in order, as the kernel would receive it: encoded with the flags the socket adds
   * (NLM_F_REQUEST, plus NLM_F_ACK for request(), NLM_F_DUMP for dump()), seq and pid 0, decoded back.
   */
  readonly sent: NlMessage[] = [];
  /** The same requests as bytes (compare them with a golden fixture). */
  readonly wire: Buffer[] = [];
  readonly #rules: Rule[] = [];

  /**
   * Answers requests that match with `answer`; the latest matching rule wins. Requests no rule
   * matches are acknowledged with no replies (a dump of them is empty).
   */
  on(match: RequestMatch, answer: Answer): this {
    this.#rules.unshift({ match, answer });
    return this;
  }

  /** Refuses matching requests the way the kernel does: NetlinkError with `errno` (and extack text). */
  refuse(match: RequestMatch, errno: number, extack?: string): this {
    return this.on(match, (req) => new NetlinkError({ errno, op: messageTypeName(req.type), seq: req.seq, extack }));
  }

  /** The recorded requests of one message type. */
  sentOf(type: number): NlMessage[] {
    return this.sent.filter((m) => m.type === type);
  }

  request(req: Request): NlMessage[] {
    return this.#answer(this.#record(req, NLM_F_REQUEST | NLM_F_ACK));
  }

  dump(req: Request): NlMessage[] {
    return this.#answer(this.#record(req, NLM_F_REQUEST | NLM_F_DUMP));
  }

  batch(reqs: Request[]): (NetlinkError | undefined)[] {
    // Like the socket: every request is encoded before any is "sent", so a bad one records nothing.
    const encoded = reqs.map((r) => encode(r, NLM_F_REQUEST));
    return encoded.map(([bytes, msg]) => {
      this.#push(bytes, msg);
      const reply = this.#reply(msg);
      if (reply instanceof NetlinkError) return reply;
      if (reply instanceof Error) throw reply;
      return undefined;
    });
  }

  #record(req: Request, flags: number): NlMessage {
    const [bytes, msg] = encode(req, flags);
    this.#push(bytes, msg);
    return msg;
  }

  #push(bytes: Buffer, msg: NlMessage): void {
    this.wire.push(bytes);
    this.sent.push(msg);
  }

  #answer(msg: NlMessage): NlMessage[] {
    const reply = this.#reply(msg);
    if (reply instanceof Error) throw reply;
    return reply;
  }

  #reply(msg: NlMessage): NlMessage[] | Error {
    const rule = this.#rules.find((r) => (typeof r.match === 'number' ? r.match === msg.type : r.match(msg)));
    if (rule === undefined) return [];
    const answer = typeof rule.answer === 'function' ? rule.answer(msg) : rule.answer;
    if (answer instanceof Error) return answer;
    return answer.map((r) => encode({ header: {}, attrs: {}, ...r }, r.flags ?? 0)[1]);
  }
}

/** `req` through the codec: its bytes (seq and pid 0) and what the kernel would decode from them. */
function encode(req: Request, flags: number): [Buffer, NlMessage] {
  const bytes = encodeMessage({ ...req, flags: flags | (req.flags ?? 0), seq: 0, pid: 0 });
  return [bytes, decodeMessages(bytes)[0]!];
}
