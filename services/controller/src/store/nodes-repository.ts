import { type ClusterSecrets, ClusterSecrets as ClusterSecretsSchema, type Etcd3, type JoinTokenRecord, JoinTokenRecord as JoinTokenSchema, keys, type NodeRecord, NodeRecord as NodeSchema, parseStored, readPrefix } from '@nap/common';


/** The cluster's nodes, its join tokens and what a joining node is handed, in etcd; the only writer of the first two. */
export class NodesRepository {
  constructor(private readonly etcd: Etcd3) {}

  async list(): Promise<NodeRecord[]> {
    return Object.values(await readPrefix(this.etcd, keys.nodes())).flatMap((v) => parseStored(NodeSchema, v) ?? []);
  }

  /** A joined node's record, made only when no node has its address (false otherwise). */
  async addJoined(node: NodeRecord): Promise<boolean> {
    const key = keys.node(node.id);
    return (await this.etcd.if(key, 'Create', '==', 0).then(this.etcd.put(key).value(JSON.stringify(node))).commit()).succeeded;
  }

  async delete(id: string): Promise<boolean> {
    return (await this.etcd.delete().key(keys.node(id)).exec()).deleted !== '0';
  }

  async tokens(): Promise<JoinTokenRecord[]> {
    return Object.values(await readPrefix(this.etcd, keys.joinTokens())).flatMap((v) => parseStored(JoinTokenSchema, v) ?? []);
  }

  async token(id: string): Promise<JoinTokenRecord | null> {
    return parseStored(JoinTokenSchema, await this.etcd.get(keys.joinToken(id)).string());
  }

  async addToken(t: JoinTokenRecord): Promise<boolean> {
    const key = keys.joinToken(t.id);
    return (await this.etcd.if(key, 'Create', '==', 0).then(this.etcd.put(key).value(JSON.stringify(t))).commit()).succeeded;
  }

  async revokeToken(id: string): Promise<boolean> {
    return (await this.etcd.delete().key(keys.joinToken(id)).exec()).deleted !== '0';
  }

  /** Null until the first node has published them (`nap up` does, once etcd auth is on). */
  async secrets(): Promise<ClusterSecrets | null> {
    return parseStored(ClusterSecretsSchema, await this.etcd.get(keys.clusterSecrets()).string());
  }
}
