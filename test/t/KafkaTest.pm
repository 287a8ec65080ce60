# Shared helpers for kafka_fdw's TAP tests (test/t/*.pl).
#
# The suite (test/run.sh) starts a real Kafka broker and exports
#   KAFKA_BROKERS        bootstrap address, 127.0.0.1:PORT
#   KAFKA_BROKER_SCRIPT  a script taking one command: pause | resume | restart |
#                        status (test/kafka_broker.sh, or a proxy to it when
#                        the broker belongs to another OS user)
# Each test creates its own PostgreSQL node with kafka_fdw preloaded, a server
# "kafka" on that broker, and talks to it through psql: synchronously
# ($node->psql), in the background (bg_psql: one psql running a statement we
# cancel), or as one long-lived session (Session: a psql fed statement by
# statement, so several statements run in the same backend).
package KafkaTest;

use strict;
use warnings;

use Exporter 'import';
use File::Spec;
use IO::Socket::INET;
use IPC::Run;

# PostgreSQL::Test::Cluster keeps its port locks in $top_builddir/portlock
# (created in its INIT block, which runs after this). Against an installed
# PGXS, top_builddir is a root-owned system directory the test user cannot
# write to: use tmp_check/portlock then (prove runs the files one by one).
BEGIN
{
	my $b = $ENV{top_builddir};
	if (!$ENV{PG_TEST_PORT_DIR} && defined $b && $b ne '')
	{
		my $usable = -d "$b/portlock" ? -w "$b/portlock" : -w $b;
		$ENV{PG_TEST_PORT_DIR} = File::Spec->rel2abs('tmp_check/portlock')
		  unless $usable;
	}
}

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

our @EXPORT = qw(
  brokers broker_script kafka_node make_topic produce
  wait_for_broker wait_for_topic
  broker_ctl broker_pause broker_resume cluster_ctl
  broker_restart_start broker_restart_wait broker_listening broker_wait_down
  bg_psql bg_wait_active bg_finish
  thread_count wait_thread_count log_has_crash wait_sql
);

# The broker address; skips the whole test file without one.
sub brokers
{
	my $b = $ENV{KAFKA_BROKERS};
	plan skip_all => 'KAFKA_BROKERS is not set (run through test/run.sh)'
	  unless defined $b && $b ne '';
	return $b;
}

# The broker control script; skips the whole test file without one.
sub broker_script
{
	my $s = $ENV{KAFKA_BROKER_SCRIPT};
	plan skip_all => 'KAFKA_BROKER_SCRIPT is not set (run through test/run.sh)'
	  unless defined $s && $s ne '' && -f $s;
	return $s;
}

# A started node with kafka_fdw preloaded, the extension and a server
# "kafka" on the test broker (or on the bootstrap list $brokers).
sub kafka_node
{
	my ($name, $brokers) = @_;
	$brokers //= brokers();
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf(
		'postgresql.conf', qq{
shared_preload_libraries = 'kafka_fdw'
wal_level = logical
max_wal_senders = 2
max_replication_slots = 24
max_worker_processes = 24
kafka_fdw.max_pipelines = 16
log_min_messages = warning
});
	$node->start;
	$node->safe_psql(
		'postgres', qq{
CREATE EXTENSION kafka_fdw;
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$brokers');
CREATE USER MAPPING FOR PUBLIC SERVER kafka;
});
	return $node;
}

# Runs $sql in $db (default postgres) until it returns $want, at most
# $timeout seconds (default 60); returns the last result.
sub wait_sql
{
	my ($node, $sql, $want, $timeout, $db) = @_;
	$timeout //= 60;
	my $t0 = time();
	my $got;
	while (time() - $t0 < $timeout)
	{
		my ($rc, $out) = $node->psql($db // 'postgres', $sql);
		$got = $out;
		return $got if $rc == 0 && $got eq $want;
		sleep 0.2;
	}
	return $got;
}

# Runs the broker control script with one command: pause, resume, restart,
# status.  Returns (exit status, output); never dies.
sub broker_ctl
{
	my (@args) = @_;
	my $script = $ENV{KAFKA_BROKER_SCRIPT};
	return (-1, 'KAFKA_BROKER_SCRIPT is not set')
	  unless defined $script && $script ne '';
	my $out = '';
	my $t0 = time();
	eval {
		IPC::Run::run([ 'bash', $script, @args ],
			'<', \undef, '>&', \$out, IPC::Run::timeout(180));
	};
	my $rc = $@ ? -1 : ($? >> 8);
	$out .= $@ if $@;
	$out =~ s/\s+$//;
	note sprintf("kafka_broker.sh %s: exit %d after %.1f s%s",
		"@args", $rc, time() - $t0, $out ne '' ? ": $out" : '');
	return ($rc, $out);
}

# Runs a command of test/kafka_cluster.sh (start, stop, kill N, start-node N,
# coordinator TXN_ID, leaders TOPIC, status, bootstrap) through the broker
# control script; returns (exit status, output), never dies.
sub cluster_ctl
{
	return broker_ctl('cluster', @_);
}

# Whether a pause of ours is to be undone at exit (see broker_pause).
our $paused = 0;

# Whether a restart of ours is to be redone at exit (see
# broker_restart_start).
our $restarting = 0;

END
{
	# Whatever happened (die, BAIL_OUT, a failed assertion, a signal), never
	# leave the suite's broker paused or down.
	local $?;    # keep the test's exit status
	if ($paused)
	{
		broker_ctl('resume');
		$paused = 0;
	}
	if ($restarting)
	{
		broker_ctl('restart');
		$restarting = 0;
	}
}

# Pauses (SIGSTOPs) the broker and arms the resume at exit, also on SIGINT,
# SIGTERM or SIGHUP (exit runs the END blocks); returns (rc, output).
my %saved_sig;

sub broker_pause
{
	$paused = 1;
	arm_signals();
	my ($rc, $out) = broker_ctl('pause');
	# not paused: nothing to undo (and a resume could not work either)
	broker_disarm() if $rc != 0;
	return ($rc, $out);
}

# Restarts the broker (same data, same ports) in the background: returns a
# handle for broker_restart_wait.  Until that reports success, a restart is
# armed at exit (should the test die with the broker down).
sub broker_restart_start
{
	my ($cmd) = @_;
	$cmd //= 'restart';    # or 'restart-slow': down for 20 s
	$restarting = 1;
	arm_signals();
	my $script = $ENV{KAFKA_BROKER_SCRIPT};
	my $r = { out => '', t0 => time() };
	$r->{timer} = IPC::Run::timeout(240);
	$r->{h} = IPC::Run::start([ 'bash', $script, $cmd ],
		'<', \undef, '>&', \$r->{out}, $r->{timer});
	return $r;
}

# Waits for the restart to end; returns (rc, output).
sub broker_restart_wait
{
	my ($r) = @_;
	my $ok = eval { $r->{h}->finish; 1 };
	my $rc = $ok ? ($r->{h}->full_result(0) >> 8) : -1;
	$r->{out} .= $@ unless $ok;
	eval { $r->{h}->kill_kill } unless $ok;
	$r->{out} =~ s/\s+$//;
	note sprintf("kafka_broker.sh restart: exit %d after %.1f s%s",
		$rc, time() - $r->{t0}, $r->{out} ne '' ? ": $r->{out}" : '');
	if ($rc == 0)
	{
		$restarting = 0;
		broker_disarm();
	}
	return ($rc, $r->{out});
}

# Whether 127.0.0.1:PORT of the broker accepts TCP connections.
sub broker_listening
{
	my ($host, $port) = split /:/, (split /,/, brokers())[0];
	my $sock = IO::Socket::INET->new(
		PeerAddr => $host,
		PeerPort => $port,
		Proto => 'tcp',
		Timeout => 1);
	return 0 unless $sock;
	close($sock);
	return 1;
}

# Waits up to $timeout s (60) for the broker's port to refuse connections
# (stopped by a restart, not yet back); returns whether it did.
sub broker_wait_down
{
	my ($timeout) = @_;
	my $deadline = time() + ($timeout // 60);
	while (time() < $deadline)
	{
		return 1 unless broker_listening();
		sleep(0.1);
	}
	return 0;
}

sub arm_signals
{
	for my $sig (qw(INT TERM HUP))
	{
		next if exists $saved_sig{$sig};
		$saved_sig{$sig} = $SIG{$sig};
		$SIG{$sig} = sub { diag "SIG$sig while the broker is paused or restarting"; exit 1; };
	}
	return;
}

sub broker_disarm
{
	$paused = 0;
	return if $restarting;
	$SIG{$_} = $saved_sig{$_} // 'DEFAULT' for keys %saved_sig;
	%saved_sig = ();
	return;
}

# Resumes a broker paused by broker_pause (a no-op otherwise).
sub broker_resume
{
	return (0, 'not paused') unless $paused;
	my ($rc, $out) = broker_ctl('resume');
	broker_disarm() if $rc == 0;
	return ($rc, $out);
}

# Waits until the broker answers kafka.topics() through this node; returns
# true if it did within $timeout_s seconds.
sub wait_for_broker
{
	my ($node, $timeout_s) = @_;
	$timeout_s //= 90;
	my $deadline = time() + $timeout_s;
	while (time() < $deadline)
	{
		my ($rc, $out, $err) = $node->psql('postgres',
			"SET kafka_fdw.timeout = 2000; SELECT count(*) >= 0 FROM kafka.topics('kafka')"
		);
		return 1 if $rc == 0 && $out eq 't';
		sleep(0.5);
	}
	return 0;
}

# Waits until every partition of $topic has a leader and reports its
# watermarks, with at least $min_high messages in all.  Returns true if so
# within $timeout_s seconds.
sub wait_for_topic
{
	my ($node, $topic, $min_high, $timeout_s) = @_;
	$min_high //= 0;
	$timeout_s //= 90;
	my $deadline = time() + $timeout_s;
	while (time() < $deadline)
	{
		my ($rc, $out, $err) = $node->psql('postgres',
			"SET kafka_fdw.timeout = 2000; SELECT sum(high - low) FROM kafka.partitions('kafka', '$topic')"
		);
		return 1 if $rc == 0 && $out =~ /^\d+$/ && $out >= $min_high;
		sleep(0.5);
	}
	return 0;
}

# Produces the lines of @$messages (one message each, no key) to one
# partition of $topic with kcat; dies on failure.
sub produce
{
	my ($topic, $partition, $messages) = @_;
	my $in = join('', map { "$_\n" } @$messages);
	my ($out, $err) = ('', '');
	IPC::Run::run(
		[ 'kcat', '-P', '-b', brokers(), '-t', $topic, '-p', $partition ],
		'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(60))
	  or die "kcat -P -t $topic -p $partition failed: $err";
	return;
}

# Creates $topic with $partitions partitions through kafka_fdw.
sub make_topic
{
	my ($node, $topic, $partitions) = @_;
	$node->safe_psql('postgres',
		"SELECT kafka.create_topic('kafka', '$topic', $partitions)");
	return;
}

# Starts one psql in the background running @stmts (each one a -c, so a SET
# applies to the statements after it), with VERBOSITY verbose (SQLSTATEs in
# the messages) and application_name $app.  Returns a handle for
# bg_wait_active / bg_finish.
sub bg_psql
{
	my ($node, $app, @stmts) = @_;
	my $bg = { out => '', err => '', app => $app };
	$bg->{timer} = IPC::Run::timeout(300);
	my @cmd = (
		'psql', '-X', '-A', '-t', '-v', 'VERBOSITY=verbose',
		'-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('postgres') . " application_name=$app");
	push @cmd, map { ('-c', $_) } @stmts;
	$bg->{start} = time();
	$bg->{h} = IPC::Run::start(\@cmd, '<', \undef, '>', \$bg->{out},
		'2>', \$bg->{err}, $bg->{timer});
	return $bg;
}

# Waits until the background psql's backend has been active for at least
# $min_active_s seconds on a statement matching $like (SQL LIKE pattern);
# returns its pid, or undef if that did not happen within $timeout_s (or
# the psql ended first).
sub bg_wait_active
{
	my ($node, $bg, $like, $min_active_s, $timeout_s) = @_;
	$timeout_s //= 60;
	my $deadline = time() + $timeout_s;
	while (time() < $deadline)
	{
		$bg->{h}->pump_nb;
		return undef unless $bg->{h}->pumpable;
		my $pid = $node->safe_psql(
			'postgres', qq{
SELECT pid FROM pg_stat_activity
 WHERE application_name = '$bg->{app}' AND state = 'active'
   AND query LIKE '$like'
   AND clock_timestamp() - query_start >= interval '$min_active_s seconds'
});
		return $pid if $pid =~ /^\d+$/;
		sleep(0.1);
	}
	return undef;
}

# Waits for the background psql to end, at most $timeout_s seconds (then it
# is killed).  Returns (finished in time?, seconds since $since, stdout,
# stderr).
sub bg_finish
{
	my ($bg, $since, $timeout_s) = @_;
	$bg->{timer}->start($timeout_s // 60);
	my $in_time = eval { $bg->{h}->finish; 1 };
	my $elapsed = time() - $since;
	if (!$in_time)
	{
		diag "background psql did not end in time: $@";
		eval { $bg->{h}->kill_kill; };
	}
	return ($in_time ? 1 : 0, $elapsed, $bg->{out}, $bg->{err});
}

# Number of threads of process $pid, from /proc (the tests run as the
# server's OS user).
sub thread_count
{
	my ($pid) = @_;
	opendir(my $dh, "/proc/$pid/task") or die "cannot read /proc/$pid/task: $!";
	my $n = grep { !/^\./ } readdir($dh);
	closedir($dh);
	return $n;
}

# Waits up to $timeout_s for process $pid to have $want threads (a
# destroyed client's threads are joined at once, the wait only absorbs
# scheduling delays); returns the last count seen.
sub wait_thread_count
{
	my ($pid, $want, $timeout_s) = @_;
	my $deadline = time() + ($timeout_s // 3);
	my $n;
	while (1)
	{
		$n = thread_count($pid);
		last if $n == $want || time() >= $deadline;
		sleep(0.1);
	}
	return $n;
}

# Lines of the server log that show a backend that crashed: killed by a
# signal or an exception, an abnormal exit code, a crash restart.
sub log_has_crash
{
	my ($node) = @_;
	my $log = slurp_file($node->logfile);
	my @bad = grep {
		/terminated by signal|terminated by exception|server process \(PID \d+\) exited with exit code|all server processes terminated; reinitializing/
	} split /\n/, $log;
	return join("\n", @bad);
}

# ---------------------------------------------------------------------------
# One psql session fed statement by statement (the same backend throughout).
#
#   my $s = KafkaTest::Session->new($node, 'app');
#   my ($out, $err) = $s->query('SELECT 1');   # waits for it to end
#   $s->send('SELECT pg_sleep(10)');           # does not wait
#   my ($out, $err) = $s->wait_result(30);     # the sent statement's result
#   $s->close;
package KafkaTest::Session;

use strict;
use warnings;
use IPC::Run;
use Time::HiRes qw(time);

my $banner_seq = 0;

sub new
{
	my ($class, $node, $app) = @_;
	my $self = bless { in => '', out => '', err => '', app => $app }, $class;
	$self->{timer} = IPC::Run::timeout(300);
	$self->{h} = IPC::Run::start(
		[
			'psql', '-X', '-A', '-t', '-q', '-v', 'VERBOSITY=verbose',
			'-d', $node->connstr('postgres') . " application_name=$app",
			'-f', '-'
		],
		'<', \$self->{in}, '>', \$self->{out}, '2>', \$self->{err},
		$self->{timer});
	my ($pid) = $self->query('SELECT pg_backend_pid()');
	die "no backend pid from the session: $self->{err}" unless $pid =~ /^\d+$/;
	$self->{pid} = $pid;
	return $self;
}

sub pid { return $_[0]->{pid}; }

# Sends a statement, followed by markers on stdout and stderr, without
# waiting for it.
sub send
{
	my ($self, $sql) = @_;
	my $banner = 'kafkatest_done_' . (++$banner_seq);
	$self->{banner} = $banner;
	$self->{out} = '';
	$self->{err} = '';
	$self->{in} .= "$sql\n;\n\\echo $banner\n\\warn $banner\n";
	$self->{h}->pump_nb while length $self->{in};
	return;
}

# Waits for the result of the statement sent last (at most $timeout_s
# seconds: then dies).  Returns (stdout, stderr), trimmed.
sub wait_result
{
	my ($self, $timeout_s) = @_;
	my $banner = $self->{banner};
	$self->{timer}->start($timeout_s // 120);
	$self->{h}->pump
	  until $self->{out} =~ /$banner/ && $self->{err} =~ /$banner/;
	my ($out, $err) = ($self->{out}, $self->{err});
	s/\n?$banner\n?//, s/^\s+|\s+$//g for ($out, $err);
	return ($out, $err);
}

sub query
{
	my ($self, $sql, $timeout_s) = @_;
	$self->send($sql);
	return $self->wait_result($timeout_s);
}

sub close
{
	my ($self) = @_;
	$self->{in} .= "\\q\n";
	$self->{timer}->start(60);
	eval { $self->{h}->finish; 1 } or eval { $self->{h}->kill_kill };
	return;
}

1;
