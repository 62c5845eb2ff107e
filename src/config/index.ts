/** The public surface of config: the Config types and loadConfig. */
export type { AcceptPolicy, Config, DiscoveryConfig, LimitsConfig, LoadedConfig, LogLevel } from './types.js';
export { loadConfig, type LoadConfigOptions } from './load.js';
