# Shared settings of the launch scripts, sourced by them. Override in the environment or in
# $EMBER_CONF_DIR/ember-env.sh (default conf dir: /etc/ember).
EMBER_CONF_DIR=${EMBER_CONF_DIR:-/etc/ember}
[ -f "$EMBER_CONF_DIR/ember-env.sh" ] && . "$EMBER_CONF_DIR/ember-env.sh"
EMBER_HOME=${EMBER_HOME:-/usr/local}                      # bin/ember-driver, bin/ember-executor
EMBER_DRIVER_HOST=${EMBER_DRIVER_HOST:-$(hostname -f)}    # where executors find the driver
EMBER_DRIVER_PORT=${EMBER_DRIVER_PORT:-7077}
EMBER_UI_PORT=${EMBER_UI_PORT:-4040}
EMBER_EXECUTOR_PORT=${EMBER_EXECUTOR_PORT:-7078}
EMBER_SLOTS=${EMBER_SLOTS:-}                              # empty: every core
EMBER_WORK_DIR=${EMBER_WORK_DIR:-/var/lib/ember/work}     # driver: plugins, checkpoints
EMBER_DATA_DIR=${EMBER_DATA_DIR:-/var/lib/ember/data}     # executors: RocksDB blocks
EMBER_LOG_DIR=${EMBER_LOG_DIR:-/var/log/ember}
EMBER_PID_DIR=${EMBER_PID_DIR:-/var/run/ember}
EMBER_SECRET_FILE=${EMBER_SECRET_FILE:-$EMBER_CONF_DIR/secret}  # chmod 600; same on every host
EMBER_HOSTS_FILE=${EMBER_HOSTS_FILE:-$EMBER_CONF_DIR/executors}  # one executor host per line
EMBER_SSH_OPTS=${EMBER_SSH_OPTS:--o BatchMode=yes -o ConnectTimeout=10}
