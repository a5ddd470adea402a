/** Partition tables as values: what the disk says, before any filesystem is looked at. */

/** One partition, in bytes from the start of its disk. Linux numbering: MBR logicals start at 5. */
export type Partition = {
  number: number;
  start: number;
  size: number;
  /** MBR: the type byte as `0x83`; GPT: the type GUID, lower case. */
  type: string;
  /** GPT unique partition GUID (PARTUUID=), or the MBR `DISKID-NN` form Linux uses for PARTUUID. */
  partuuid: string;
  /** GPT partition name (PARTLABEL=), guest-controlled; null on MBR. */
  name: string | null;
  bootable: boolean;
  logical: boolean;
};

export type PartitionTable =
  | { scheme: 'mbr'; diskId: string; partitions: Partition[]; warnings: string[] }
  | { scheme: 'gpt'; diskGuid: string; sectorSize: number; partitions: Partition[]; warnings: string[] }
  | { scheme: 'none'; partitions: []; warnings: string[] };
