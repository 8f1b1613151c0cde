import { GroupCoordinator } from './coordinator.js';
import type { GroupAddress } from './group-address.js';
import { GroupMemberNode } from './member.js';
import type { GroupParticipant } from './participant.js';

/** Rank 0 listens on the rendezvous address; every other rank connects to it. */
export function openGroup(address: GroupAddress): Promise<GroupParticipant> {
  return address.rank === 0 ? GroupCoordinator.listen(address) : GroupMemberNode.connect(address);
}
