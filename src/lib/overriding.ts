/**
 * `target` as it is, but for the methods in `overrides`: a wrapper that changes a few methods of an
 * adapter without knowing the rest of its interface (a store's ports keep growing). Every other method
 * is bound to `target` once, as it is first asked for: an adapter's methods use its private fields,
 * and the write path calls them often.
 */
export const overriding = <T extends object>(target: T, overrides: Readonly<Record<string, unknown>>): T => {
  const own = new Map<PropertyKey, unknown>(Object.entries(overrides));
  return new Proxy(target, {
    get(inner, key) {
      let value = own.get(key);
      if (value === undefined) {
        value = Reflect.get(inner, key, inner);
        if (typeof value === "function") {
          value = value.bind(inner);
          own.set(key, value);
        }
      }
      return value;
    },
  });
};
