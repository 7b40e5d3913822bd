// VERSION: which spec versions this plugin speaks.
import type { Reply } from '../skel.js';
import { LATEST_VERSION, SUPPORTED_VERSIONS } from '../versions.js';

export function version(): Reply {
  return { cniVersion: LATEST_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] };
}
