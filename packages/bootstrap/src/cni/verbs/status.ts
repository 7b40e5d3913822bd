// STATUS (spec 1.1): succeeds when an ADD could; otherwise error 50 with the reason (lease file
// missing, range exhausted, store unusable).
import { CniCode, CniError, toCniError } from '../errors.js';
import { ipamFor } from '../ipam/index.js';
import type { CniRequest, Reply } from '../skel.js';

export async function status(req: CniRequest): Promise<Reply> {
  try {
    await (await ipamFor(req.conf)).status(req);
  } catch (err) {
    const e = toCniError(err);
    throw e.code === CniCode.NotAvailable || e.code === 51 ? e : new CniError(CniCode.NotAvailable, e.message, { cause: err });
  }
  return undefined;
}
