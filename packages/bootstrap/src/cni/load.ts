// Modules loaded on first use, not with the verb: nft runs through child_process, ~3 ms to load,
// which only a network with ipMasq should pay.
import { lazy } from './lazy.js';

export const loadMasquerade = lazy(() => import('./masq.js'));
