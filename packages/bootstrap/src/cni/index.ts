// `netboot/cni`: the CNI plugin as a library — the dispatcher, its request and error types, and the
// config and result codecs — for tools that drive or embed it (tests, the installer, benchmarks).
export { dispatch, type CniIo, type CniRequest, type Reply, type Verbs } from './skel.js';
export { parseEnv, type CniEnv, type Command, COMMANDS } from './env.js';
export { CniCode, CniError, toCniError } from './errors.js';
export { parseConfig, decodeConfig, type NetConf, type IpamConf, type NetbootIpamConf, type DelegatedIpamConf, type RangeConf } from './config.js';
export { formatResult, parseResult, type CniResult, type CniInterface, type CniIp, type CniRoute, type CniDns } from './result.js';
export { SUPPORTED_VERSIONS, LATEST_VERSION, type CniVersion } from './versions.js';
