/** The store layer's Directory port, answered by the discovery resolver. */
import { KeypostError } from '../errors.js';
import { Resolver, stores } from '../discovery/index.js';
import type { Directory } from '../store/ports.js';

/**
 * `allowHttp`: whether plain-http stores may be contacted — only when this store itself is
 * on plain http (loopback); otherwise an assertion naming http://127.0.0.1:… would make
 * the store send requests to local services.
 */
export function resolverDirectory(resolver: Resolver, allowHttp: () => boolean): Directory {
  return {
    async storesOf(address, hint) {
      if (!hint || (!allowHttp() && hint.startsWith('http:'))) throw new KeypostError('DISCOVERY_FAILED', 'no usable store known for this address');
      const r = await resolver.resolve(address, { store: hint });
      const urls = stores(r).map((s) => s.url).filter((u) => allowHttp() || u.startsWith('https:'));
      if (urls.length === 0) throw new KeypostError('DISCOVERY_FAILED', 'the address names no usable store');
      return urls;
    },
  };
}
