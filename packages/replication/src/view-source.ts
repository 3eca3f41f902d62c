/**
 * Where replica groups get their views. The membership layer (failure detector, epoch-numbered
 * views, primary by rank) will sit behind this interface; until it lands, `ScriptedViewSource`
 * plays its part in simulations: a crashed or diverged replica is removed from the next view after
 * a suspicion delay, and the first remaining member by rank becomes primary.
 */
import type { Clock, TimerHandle } from '@steadfast/runtime';
import type { GroupView } from '@steadfast/group';
import type { NodeId } from '@steadfast/wire';

/** What replication needs from membership. */
export interface ViewSource {
  /** The view of `group` installed last, if any. */
  current(group: string): GroupView | undefined;
  /** Calls `listener` with every view installed from now on, of every group, in epoch order. */
  subscribe(listener: (view: GroupView) => void): void;
  /**
   * Replication's reports: a replica that diverged (it must leave the group before it could be
   * promoted), or one named primary while it has no state yet (`refused-promotion`: the next view
   * must name another). Crashes are membership's own business (its failure detector); the scripted
   * source takes them as reports too.
   */
  report(event: ViewReport): void;
}

/**
 * What replication tells its view source (`ViewSource.report`): a replica that crashed (the scripted
 * source's stand-in for a failure detector) or diverged, which the group's next view must leave out;
 * or one named primary of `epoch` that refused for want of state, so that a next view names another.
 */
export type ViewReport =
  | { readonly type: 'crashed' | 'diverged'; readonly group: string; readonly replica: NodeId }
  | {
      readonly type: 'refused-promotion';
      readonly group: string;
      readonly replica: NodeId;
      readonly epoch: number;
    };

/**
 * A `ViewSource` for simulations that run without the membership layer. Each group starts at epoch
 * 1 with its members in the order given, which is their rank; the first by rank is primary. A
 * replica reported crashed or diverged leaves the next view `suspicionDelayMs` later (on the given
 * clock); a restarted one comes back last by rank (`join`); a primary that refused moves to the last
 * rank. A group's last member is never removed. Views go to every subscriber at once, in epoch
 * order; `installInitial` sends the first ones. A group without members is a `RangeError`.
 */
export class ScriptedViewSource implements ViewSource {
  private readonly views = new Map<string, GroupView>();
  private readonly ranks = new Map<string, readonly NodeId[]>();
  private readonly listeners: ((view: GroupView) => void)[] = [];
  private readonly removed = new Set<string>();
  private readonly removals = new Map<string, TimerHandle>();

  constructor(
    private readonly clock: Clock,
    groups: Readonly<Record<string, readonly NodeId[]>>,
    private readonly suspicionDelayMs: number,
  ) {
    for (const [group, members] of Object.entries(groups)) {
      if (members.length === 0) throw new RangeError(`group '${group}' has no members`);
      this.ranks.set(group, members);
      this.views.set(group, { group, epoch: 1, members: [...members], primary: members[0]! });
    }
  }

  current(group: string): GroupView | undefined {
    return this.views.get(group);
  }

  subscribe(listener: (view: GroupView) => void): void {
    this.listeners.push(listener);
  }

  /** Installs every group's first view at the subscribers. */
  installInitial(): void {
    for (const view of this.views.values()) for (const listener of this.listeners) listener(view);
  }

  report(event: ViewReport): void {
    if (event.type === 'refused-promotion') return this.demote(event.group, event.replica, event.epoch);
    const key = `${event.group}/${event.replica}`;
    if (this.removed.has(key)) return;
    this.removed.add(key);
    this.removals.set(
      key,
      this.clock.setTimer(this.suspicionDelayMs, () => {
        this.removals.delete(key);
        this.remove(event.group, event.replica);
      }),
    );
  }

  /**
   * A restarted replica (a new incarnation) joins its group: a view without its old incarnation
   * (if that was still in), then one with it as the last member by rank, so it is never chosen as
   * primary before the others (it needs a state transfer first).
   */
  join(group: string, replica: NodeId): void {
    const key = `${group}/${replica}`;
    const pending = this.removals.get(key);
    if (pending !== undefined) this.clock.clearTimer(pending);
    this.removals.delete(key);
    this.removed.delete(key);
    this.remove(group, replica);
    const view = this.views.get(group);
    if (view === undefined || view.members.includes(replica)) return;
    this.ranks.set(group, [...(this.ranks.get(group) ?? []).filter((member) => member !== replica), replica]);
    const members = [...view.members, replica];
    this.install({ group, epoch: view.epoch + 1, members, primary: view.primary });
  }

  /**
   * The primary of `epoch` cannot serve (no state yet): it moves to the last rank and the next view
   * names the first member by rank. A report about an older view changes nothing.
   */
  private demote(group: string, replica: NodeId, epoch: number): void {
    const view = this.views.get(group);
    if (view === undefined || view.epoch !== epoch || view.primary !== replica) return;
    const ranks = [...(this.ranks.get(group) ?? []).filter((member) => member !== replica), replica];
    this.ranks.set(group, ranks);
    const members = ranks.filter((member) => view.members.includes(member));
    if (members[0] === replica) return; // Nobody else to name.
    this.install({ group, epoch: view.epoch + 1, members, primary: members[0]! });
  }

  private install(view: GroupView): void {
    this.views.set(view.group, view);
    for (const listener of this.listeners) listener(view);
  }

  private remove(group: string, replica: NodeId): void {
    const view = this.views.get(group);
    if (view === undefined || !view.members.includes(replica)) return;
    const members = (this.ranks.get(group) ?? []).filter(
      (member) => view.members.includes(member) && member !== replica,
    );
    if (members.length === 0) return; // Nobody left to install a view at.
    this.install({ group, epoch: view.epoch + 1, members, primary: members[0]! });
  }
}
