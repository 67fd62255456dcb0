/** What a running broker tells about itself: the dashboard's header and the first fields of its status file. */
export interface BrokerOverview {
  pid: number;
  startedAt: string;
  config: string;
  listenIp: string;
  port: number;
  grpcPort: number;
}
