/** What a LinkedList links through: fields of the item itself. An item is in at most one list. */
export interface Linked<T> {
  prevLink: T | null;
  nextLink: T | null;
  linked: boolean;
}

/**
 * A list in insertion order, linked through its items: requests in progress (the oldest time out
 * first) and open client connections (swept for timeouts). A Set of them cost the router about a
 * fifth of its time per request (V8 gives each object an identity hash on first insertion, and the
 * table churns); this costs a few field writes.
 */
export class LinkedList<T extends Linked<T>> {
  private head: T | null = null;
  private tail: T | null = null;
  size = 0;

  add(item: T): void {
    item.prevLink = this.tail;
    item.nextLink = null;
    if (this.tail === null) this.head = item;
    else this.tail.nextLink = item;
    this.tail = item;
    item.linked = true;
    this.size++;
  }

  delete(item: T): void {
    if (!item.linked) return;
    item.linked = false;
    this.size--;
    const prev = item.prevLink;
    const next = item.nextLink;
    if (prev === null) this.head = next;
    else prev.nextLink = next;
    if (next === null) this.tail = prev;
    else next.prevLink = prev;
    item.prevLink = null;
    item.nextLink = null;
  }

  /** The oldest item, or null; the next one is its nextLink. */
  first(): T | null {
    return this.head;
  }
}
