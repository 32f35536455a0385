/** The store layer's Directory port, answered by the discovery resolver. */
import { KeypostError } from '../errors.js';
import { Resolver, stores } from '../discovery/index.js';
import type { Directory } from '../store/ports.js';

export function resolverDirectory(resolver: Resolver): Directory {
  return {
    async storesOf(address, hint) {
      if (!hint) throw new KeypostError('DISCOVERY_FAILED', 'no store known for this address');
      const r = await resolver.resolve(address, { store: hint });
      return stores(r).map((s) => s.url);
    },
  };
}
