/** The files and command lines that register the broker with each init system. */

export const SERVICE_NAME = 'bpbroker';

export interface Launch {
  /** Absolute path of the node executable. */
  node: string;
  /** Absolute path of bin/bpbroker.js. */
  script: string;
  /** Arguments after the script: `start --home H --config F`. */
  args: string[];
  home: string;
}

/** systemd quotes arguments with double quotes; `%` must be doubled or it is read as a specifier. */
function systemdArg(a: string): string {
  const s = a.replace(/%/g, '%%');
  return /^[\w@+=:,./-]+$/.test(s) ? s : `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function systemdUnit(l: Launch): string {
  const exec = [l.node, l.script, ...l.args].map(systemdArg).join(' ');
  return `# Installed by \`bpbroker install-service\`; removed by \`bpbroker uninstall-service\`.
[Unit]
Description=bpbroker: discovery, durable registry and extension RPCs
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
Environment=${systemdArg(`BPBROKER_HOME=${l.home}`)}
ExecStart=${exec}
# SIGTERM makes the broker finish requests in flight and write its configuration.
KillSignal=SIGTERM
TimeoutStopSec=30
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
`;
}

function shArg(a: string): string {
  return `'${a.replace(/'/g, `'\\''`)}'`;
}

/** A LSB/chkconfig init script: enabled by update-rc.d (Debian) or chkconfig (Red Hat). */
export function sysvScript(l: Launch): string {
  return `#!/bin/sh
# Installed by \`bpbroker install-service\`; removed by \`bpbroker uninstall-service\`.
### BEGIN INIT INFO
# Provides:          bpbroker
# Required-Start:    $network $remote_fs $syslog
# Required-Stop:     $network $remote_fs $syslog
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: bpbroker broker daemon
# Description:       Discovery, durable registry and extension RPCs on port 20443.
### END INIT INFO
# chkconfig: 2345 85 15
# description: bpbroker broker daemon

NODE=${shArg(l.node)}
SCRIPT=${shArg(l.script)}
PIDFILE=/var/run/bpbroker.pid
LOGFILE=/var/log/bpbroker.log
BPBROKER_HOME=${shArg(l.home)}
export BPBROKER_HOME

running() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

start() {
  if running; then echo "bpbroker is already running (pid $(cat "$PIDFILE"))"; return 0; fi
  nohup "$NODE" "$SCRIPT" ${l.args.map(shArg).join(' ')} >>"$LOGFILE" 2>&1 &
  echo $! >"$PIDFILE"
  echo "bpbroker started (pid $!)"
}

stop() {
  if ! running; then echo "bpbroker is not running"; rm -f "$PIDFILE"; return 0; fi
  pid=$(cat "$PIDFILE")
  kill -TERM "$pid"
  # The broker writes its configuration on SIGTERM: give it time before giving up.
  i=0
  while kill -0 "$pid" 2>/dev/null && [ $i -lt 30 ]; do sleep 1; i=$((i + 1)); done
  if kill -0 "$pid" 2>/dev/null; then echo "bpbroker (pid $pid) did not stop"; return 1; fi
  rm -f "$PIDFILE"
  echo "bpbroker stopped"
}

case "$1" in
  start) start ;;
  stop) stop ;;
  restart|force-reload) stop && start ;;
  status)
    if running; then echo "bpbroker is running (pid $(cat "$PIDFILE"))"; exit 0; fi
    echo "bpbroker is not running"; exit 3 ;;
  *) echo "Usage: $0 {start|stop|restart|status}"; exit 2 ;;
esac
`;
}

/** nssm commands that register the service (auto start, restart when it exits with an error). */
export function nssmInstall(nssm: string, l: Launch): string[][] {
  return [
    [nssm, 'install', SERVICE_NAME, l.node, l.script, ...l.args],
    [nssm, 'set', SERVICE_NAME, 'AppEnvironmentExtra', `BPBROKER_HOME=${l.home}`],
    [nssm, 'set', SERVICE_NAME, 'Description', 'bpbroker: discovery, durable registry and extension RPCs'],
    [nssm, 'set', SERVICE_NAME, 'Start', 'SERVICE_AUTO_START'],
    [nssm, 'set', SERVICE_NAME, 'AppExit', 'Default', 'Restart'],
    [nssm, 'set', SERVICE_NAME, 'AppExit', '0', 'Exit'],
  ];
}
