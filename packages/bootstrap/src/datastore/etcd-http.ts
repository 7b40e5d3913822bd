// A small etcd v3 client over etcd's JSON gateway (`POST /v3/kv/range`, `/v3/watch`…, the API
// `etcdctl` speaks over gRPC, here as HTTP/1.1 + JSON with base64 keys and values), for the agent.
// npm `etcd3` (gRPC + protobufjs, which parses etcd's .proto files at start) cost an agent ~200 ms of
// start-up and ~25 MB of RSS before its first call (bench/agent). Only what the agent uses is here:
// ranges, transactions, leases with keep-alive, and watches. Several endpoints: a call that cannot
// reach one member tries the next, and the member that answered is tried first from then on.
import { Agent, type ClientRequest, type IncomingMessage, request, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { NetbootError } from '@netboot/core/errors';

/** No member answered (etcd down, wrong endpoints, deadline): retry later. */
export class EtcdUnavailableError extends NetbootError {
  readonly kind = 'unavailable' as const;
}

/** etcd answered with an error of its own (a bad request, a lease it does not know): not worth a retry as is. */
class EtcdRefusedError extends NetbootError {
  readonly kind = 'internal' as const;
}

/** A key-value pair as the gateway returns it (keys and values decoded). */
export interface EtcdKv {
  key: string;
  value: string;
  modRevision: bigint;
  lease?: string;
}

export interface EtcdWatchEvent {
  type: 'put' | 'delete';
  kv: EtcdKv;
}

interface RawKv {
  key: string;
  value?: string;
  mod_revision?: string;
  lease?: string;
}

export interface EtcdHttpOptions {
  /** Client URLs, e.g. `http://10.0.0.1:2379`. */
  endpoints: readonly string[];
  /** Deadline of each unary call; default 5 s. */
  callTimeoutMs?: number;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined): string => (s === undefined ? '' : Buffer.from(s, 'base64').toString());

/** The range end that covers every key starting with `prefix` (etcd's `range_end`, base64). */
export function prefixEnd(prefix: string): string {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1).toString('base64');
    }
  }
  return Buffer.from([0]).toString('base64');
}

/** A gateway key-value, decoded. */
export function decodeKv(raw: RawKv): EtcdKv {
  return {
    key: unb64(raw.key),
    value: unb64(raw.value),
    modRevision: BigInt(raw.mod_revision ?? 0),
    ...(raw.lease !== undefined && { lease: raw.lease }),
  };
}

export class EtcdHttp {
  readonly endpoints: readonly string[];
  readonly #timeoutMs: number;
  // Kept-alive connections: a call is one request on an open socket, as a gRPC channel would be.
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 8 });
  readonly #tlsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 8 });
  /** The member that answered last: tried first. */
  #current = 0;

  constructor(opts: EtcdHttpOptions) {
    if (opts.endpoints.length === 0) throw new EtcdRefusedError('etcd: no endpoints given');
    this.endpoints = opts.endpoints.map((e) => e.replace(/\/+$/, ''));
    this.#timeoutMs = opts.callTimeoutMs ?? 5_000;
  }

  /** `POST /v3/<path>` with `body` on the first member that answers; its JSON answer. */
  async call<T>(path: string, body: object): Promise<T> {
    const n = this.endpoints.length;
    let last: unknown;
    for (let k = 0; k < n; k++) {
      const i = (this.#current + k) % n;
      try {
        const res = await this.#post(this.endpoints[i]!, path, body);
        this.#current = i;
        return res as T;
      } catch (e) {
        if (!(e instanceof EtcdUnavailableError)) throw e;
        last = e;
      }
    }
    throw last;
  }

  /** Every key under `prefix`, sorted by key, and the store's revision (`etcdctl get --prefix`). */
  async list(prefix: string): Promise<{ kvs: EtcdKv[]; revision: string }> {
    const res = await this.call<{ header: { revision: string }; kvs?: RawKv[] }>('kv/range', {
      key: b64(prefix),
      range_end: prefixEnd(prefix),
      sort_order: 'ASCEND',
      sort_target: 'KEY',
    });
    return { kvs: (res.kvs ?? []).map(decodeKv), revision: res.header.revision };
  }

  /** The store's current revision (read with a range of `key`). */
  async revision(key: string): Promise<string> {
    return (await this.call<{ header: { revision: string } }>('kv/range', { key: b64(key), limit: 1 })).header.revision;
  }

  /** `etcdctl put KEY VALUE [--lease ID]`. */
  async put(key: string, value: string, lease?: string): Promise<void> {
    await this.call('kv/put', { key: b64(key), value: b64(value), ...(lease !== undefined && { lease }) });
  }

  /** `etcdctl lease grant TTL`: the lease's ID. */
  async grant(ttlSeconds: number): Promise<string> {
    return (await this.call<{ ID: string }>('lease/grant', { TTL: ttlSeconds })).ID;
  }

  /** One keep-alive of lease `id`: its remaining TTL, 0 when etcd no longer has it (expired or revoked). */
  async keepAlive(id: string): Promise<number> {
    const res = await this.call<{ result?: { TTL?: string } }>('lease/keepalive', { ID: id });
    return Number(res.result?.TTL ?? 0);
  }

  /** `etcdctl lease revoke ID`. */
  async revoke(id: string): Promise<void> {
    await this.call('lease/revoke', { ID: id });
  }

  /**
   * Watches every key under `prefix` from `startRevision` (`etcdctl watch --prefix --rev`), calling
   * `onEvents` for each batch, until `signal` aborts (resolves 'closed') or the stream ends or fails
   * (resolves with why: a lost member, a compacted revision). Connects to one member, as a watch does.
   */
  watch(prefix: string, startRevision: string, onEvents: (events: EtcdWatchEvent[]) => void, signal: AbortSignal): Promise<string> {
    const endpoint = this.endpoints[this.#current]!;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve('closed');
      let done = false;
      const finish = (why: string) => {
        if (done) return;
        done = true;
        signal.removeEventListener('abort', onAbort);
        req.destroy();
        resolve(why);
      };
      const onAbort = () => finish('closed');
      signal.addEventListener('abort', onAbort, { once: true });
      // Its own connection: a stream holds it for as long as it lives.
      const req = send(`${endpoint}/v3/watch`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return finish(`etcd at ${endpoint} answered the watch with HTTP ${res.statusCode}`);
        }
        res.setEncoding('utf8');
        let buffered = '';
        res.on('data', (chunk: string) => {
          buffered += chunk;
          for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (line === '') continue;
            const why = this.#watchMessage(line, onEvents);
            if (why !== undefined) return finish(why);
          }
        });
        res.on('end', () => finish(`etcd at ${endpoint} ended the watch`));
        res.on('error', (e) => finish(`lost the watch on ${endpoint}: ${e.message}`));
      });
      req.on('error', (e) => finish(`cannot watch on ${endpoint}: ${e.message}`));
      // A member that dies without closing the socket: TCP keep-alive notices.
      req.on('socket', (s) => s.setKeepAlive(true, 5_000));
      req.end(JSON.stringify({ create_request: { key: b64(prefix), range_end: prefixEnd(prefix), start_revision: startRevision } }));
    }).then((why) => {
      // Lost: the next list and watch try another member first.
      if (why !== 'closed') this.#current = (this.#current + 1) % this.endpoints.length;
      return why as string;
    });
  }

  /** One line of a watch stream: undefined to read on, or why the watch is over. */
  #watchMessage(line: string, onEvents: (events: EtcdWatchEvent[]) => void): string | undefined {
    let msg: {
      result?: { events?: { type?: string; kv: RawKv }[]; canceled?: boolean; compact_revision?: string; cancel_reason?: string };
      error?: { message?: string };
    };
    try {
      msg = JSON.parse(line);
    } catch {
      return `etcd sent a watch message that is not JSON: ${line.slice(0, 80)}`;
    }
    if (msg.error !== undefined) return `the watch failed: ${msg.error.message ?? JSON.stringify(msg.error)}`;
    const r = msg.result;
    if (r === undefined) return undefined;
    if (r.canceled === true || (r.compact_revision !== undefined && r.compact_revision !== '0'))
      return `etcd cancelled the watch${r.compact_revision !== undefined ? ` (compacted at revision ${r.compact_revision})` : ''}${r.cancel_reason ? `: ${r.cancel_reason}` : ''}`;
    if (r.events !== undefined && r.events.length > 0) onEvents(r.events.map((e) => ({ type: e.type === 'DELETE' ? 'delete' : 'put', kv: decodeKv(e.kv) })));
    return undefined;
  }

  close(): void {
    this.#agent.destroy();
    this.#tlsAgent.destroy();
  }

  #post(endpoint: string, path: string, body: object): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const tls = endpoint.startsWith('https:');
      const req = send(
        `${endpoint}/v3/${path}`,
        { method: 'POST', agent: tls ? this.#tlsAgent : this.#agent, headers: { 'content-type': 'application/json' }, timeout: this.#timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (e) => reject(new EtcdUnavailableError(`etcd at ${endpoint}: ${e.message}`)));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let json: { error?: string; message?: string; code?: number };
            // No gateway on this member: retrying cannot help.
            if (res.statusCode === 404)
              return reject(
                new EtcdRefusedError(`etcd at ${endpoint} has no JSON gateway (HTTP 404 for /v3/${path}): run etcd with --enable-grpc-gateway (its default)`),
              );
            try {
              json = JSON.parse(text);
            } catch {
              return reject(new EtcdUnavailableError(`etcd at ${endpoint} answered ${path} with HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
            }
            if (res.statusCode === 200 && json.error === undefined) return resolve(json);
            const message = `etcd at ${endpoint} refused ${path}: ${json.message ?? json.error ?? `HTTP ${res.statusCode}`}`;
            // gRPC codes 4 (deadline) and 14 (unavailable: no leader, a member stopping): another member, or later.
            reject(json.code === 4 || json.code === 14 || res.statusCode === 503 ? new EtcdUnavailableError(message) : new EtcdRefusedError(message));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.#timeoutMs} ms`)));
      req.on('error', (e) => reject(new EtcdUnavailableError(`etcd at ${endpoint}: ${e.message}`)));
      req.end(JSON.stringify(body));
    });
  }
}

/** `http.request` or, for an `https://` endpoint (server certificate checked against the system's CAs), `https.request`. */
function send(url: string, opts: RequestOptions, onResponse: (res: IncomingMessage) => void): ClientRequest {
  return (url.startsWith('https:') ? httpsRequest : request)(url, opts, onResponse);
}
