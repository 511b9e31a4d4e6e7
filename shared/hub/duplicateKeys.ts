// The keys a JSON text names twice in one object (JSON.parse keeps the last silently; kube-apiserver
// refuses them under fieldValidation=Strict). Written by hand because no JSON parser we have reports
// duplicates cheaply: the yaml library does (parseDocument with uniqueKeys off) but builds a whole
// document tree, which cost ~0.6 ms of every agent heartbeat; this is one pass over the characters.
// It expects text JSON.parse has accepted, so it checks nothing about the syntax.

type Frame = { kind: 'object'; path: string; keys: Set<string>; key?: string; wantKey: boolean } | { kind: 'array'; path: string; index: number };

const at = (path: string, key: string) => (path ? `${path}.${key}` : key);

/** The path of each repeated key (`metadata.labels.app`, `spec.containers[0].name`), in the order met. */
export function duplicateKeys(text: string): string[] {
  const found: string[] = [];
  const stack: Frame[] = [];
  const childPath = (): string => {
    const top = stack[stack.length - 1];
    if (!top) return '';
    return top.kind === 'array' ? `${top.path}[${top.index}]` : at(top.path, top.key ?? '');
  };
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) stack.push({ kind: 'object', path: childPath(), keys: new Set(), wantKey: true });
    else if (c === 0x5b /* [ */) stack.push({ kind: 'array', path: childPath(), index: 0 });
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) stack.pop();
    else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.kind === 'array') top.index++;
      else if (top) top.wantKey = true;
    } else if (c === 0x22 /* " */) {
      let end = i + 1;
      let escaped = false;
      for (; end < text.length; end++) {
        const d = text.charCodeAt(end);
        if (d === 0x5c /* \ */) {
          escaped = true;
          end++;
        } else if (d === 0x22) break;
      }
      const top = stack[stack.length - 1];
      if (top?.kind === 'object' && top.wantKey) {
        const key = escaped ? (JSON.parse(text.slice(i, end + 1)) as string) : text.slice(i + 1, end);
        if (top.keys.has(key)) found.push(at(top.path, key));
        top.keys.add(key);
        top.key = key;
        top.wantKey = false;
      }
      i = end;
    }
  }
  return found;
}
