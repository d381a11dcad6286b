import { posix } from 'node:path';

/**
 * Where an archive's links lead once it is extracted, resolved the way the kernel will: component
 * by component, through the archive's own symbolic links (the lexical check alone passes
 * `self -> .` plus `up -> self/..`).
 *
 * Paths are nodes of a tree rather than strings, and each symbolic link is resolved once and
 * remembered, so checking every link of an archive costs time linear in the total length of the
 * archive's paths and link targets. The string-and-queue walk this replaces was quadratic: one
 * sub-MiB upload whose link target was `x/x/x/…` (with `x -> .`) held the event loop for seconds.
 */

/** Linux follows at most 40 nested symbolic links (MAXSYMLINKS) before ELOOP; deeper chains are refused. */
export const MAX_LINK_NESTING = 40;

interface PathNode {
  readonly parent: PathNode | null;
  readonly name: string;
  readonly children: Map<string, PathNode>;
  /** The target's components, when the archive has a symbolic link at this path. */
  link?: string[];
}

/** What resolving a link found: where it lands (null: outside the root, or a loop) and how many links deep it went. */
interface Resolution {
  node: PathNode | null;
  depth: number;
}

const OUTSIDE: Resolution = { node: null, depth: 0 };

export class ArchiveLinks {
  private readonly root: PathNode = { parent: null, name: '', children: new Map() };
  private readonly resolved = new Map<PathNode, Resolution>();
  private readonly resolving = new Set<PathNode>();

  /** Records a symbolic link at `path` (relative to the archive root) pointing to `target`. */
  addSymlink(path: string, target: string): void {
    const node = this.literal(path);
    node.link = posix.isAbsolute(target) ? ['/'] : target.split('/');
  }

  /** True when the symbolic link at `path` (added before) lands inside the root once every link is followed. */
  symlinkStaysInside(path: string, target: string): boolean {
    const parent = this.real(this.literal(path).parent as PathNode);
    if (parent.node === null || posix.isAbsolute(target)) return false;
    return this.walk(parent.node, target.split('/'), 1).node !== null;
  }

  /** True when a hard link's target (relative to the archive root, as tar writes it) stays inside the root. */
  hardLinkStaysInside(target: string): boolean {
    if (posix.isAbsolute(target)) return false;
    return this.walk(this.root, target.split('/'), 1).node !== null;
  }

  /** The node of a path as written in the archive, without following links. */
  private literal(path: string): PathNode {
    let node = this.root;
    for (const part of path.split('/')) if (part !== '' && part !== '.') node = this.child(node, part);
    return node;
  }

  private child(node: PathNode, name: string): PathNode {
    let c = node.children.get(name);
    if (!c) {
      c = { parent: node, name, children: new Map() };
      node.children.set(name, c);
    }
    return c;
  }

  /** Where a literal path really is once the links among its ancestors are followed. */
  private real(node: PathNode): Resolution {
    if (node === this.root) return { node, depth: 0 };
    const parent = this.real(node.parent as PathNode);
    if (parent.node === null) return OUTSIDE;
    const here = parent.node === node.parent ? node : this.child(parent.node, node.name);
    if (here.link === undefined) return { node: here, depth: parent.depth };
    const through = this.follow(here, 1);
    return through.node === null ? OUTSIDE : { node: through.node, depth: Math.max(parent.depth, through.depth) };
  }

  /** Walks `parts` from a real node: `..` climbs to the real parent, and each link on the way is followed (once, remembered). */
  private walk(from: PathNode, parts: string[], nesting: number): Resolution {
    let node = from;
    let depth = 0;
    for (const part of parts) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (node.parent === null) return OUTSIDE;
        node = node.parent;
        continue;
      }
      const next = this.child(node, part);
      if (next.link === undefined) {
        node = next;
        continue;
      }
      const through = this.follow(next, nesting);
      if (through.node === null) return OUTSIDE;
      node = through.node;
      depth = Math.max(depth, through.depth);
    }
    return { node, depth };
  }

  /**
   * Where the symbolic link at `link` (a child of a real node) leads. A loop, or links nested
   * deeper than the kernel follows, count as outside: the whole archive is refused then, so a
   * remembered "outside" never wrongly refuses a link that another order would have accepted.
   */
  private follow(link: PathNode, nesting: number): Resolution {
    const known = this.resolved.get(link);
    if (known) return known;
    if (this.resolving.has(link) || nesting > MAX_LINK_NESTING) return OUTSIDE;
    const target = link.link as string[];
    if (target[0] === '/') return OUTSIDE;
    this.resolving.add(link);
    const inner = this.walk(link.parent as PathNode, target, nesting + 1);
    this.resolving.delete(link);
    const result = inner.node === null || inner.depth + 1 > MAX_LINK_NESTING ? OUTSIDE : { node: inner.node, depth: inner.depth + 1 };
    this.resolved.set(link, result);
    return result;
  }
}
