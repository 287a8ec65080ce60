# Security of consumer groups, sinks and the extension's schema: attacks by
# plain roles (issue "Security", findings 1, 4, 5, 8, 9, 10, 13).  Each
# attack must end in an error or a no-op: afterwards no attacker is a
# superuser and no planted command ran (its file does not exist).
#
# Roles: role_a and role_b (LOGIN, USAGE on the server and on schema kafka;
# role_b is the victim), role_o (owns a database), role_n (NOLOGIN).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use KafkaTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use File::Spec;

brokers();
my $node = kafka_node('secsink');
my $run = int(time() * 1000) % 100000000;
my $pwned = File::Spec->rel2abs($node->basedir) . '/pwned';    # every planted command touches it

sub sq { my ($sql, $db) = @_; return $node->safe_psql($db // 'postgres', $sql); }

# (rc, stdout, stderr) of $sql run by $role
sub as
{
	my ($role, $sql, $db) = @_;
	my ($rc, $out, $err) = $node->psql($db // 'postgres', $sql, extra_params => [ '-U', $role ]);
	return ($rc, $out, $err);
}

sub wait_for
{
	my ($sql, $want, $timeout, $db) = @_;
	$timeout //= 60;
	my $t0 = time();
	my $got;
	while (time() - $t0 < $timeout)
	{
		$got = sq($sql, $db);
		return $got if $got eq $want;
		sleep 0.2;
	}
	return $got;
}

sub no_escalation
{
	my ($what) = @_;
	is(sq("SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolsuper AND rolname LIKE 'role_%'"),
		'', "$what: no attacker became superuser");
	ok(!-e $pwned, "$what: no planted command ran");
}

# Objects an attacker plants in its schema S: each, when run by a superuser,
# makes the attacker superuser and runs a shell command.  They shadow
# what unqualified SQL would find through search_path = S, pg_catalog.
sub plant
{
	my ($role, $schema, $db) = @_;
	my $esc = "IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) current_user) THEN
	             EXECUTE 'ALTER ROLE $role SUPERUSER';
	             EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch $pwned''';
	           END IF;";
	my ($rc, $out, $err) = as(
		$role, qq{
CREATE FUNCTION $schema.now() RETURNS timestamptz LANGUAGE plpgsql AS \$\$ BEGIN $esc RETURN pg_catalog.now(); END \$\$;
CREATE FUNCTION $schema.to_regclass(text) RETURNS regclass LANGUAGE plpgsql AS \$\$ BEGIN $esc RETURN pg_catalog.to_regclass(\$1); END \$\$;
CREATE FUNCTION $schema.eq_t(text, text) RETURNS boolean LANGUAGE plpgsql AS \$\$ BEGIN $esc RETURN \$1 OPERATOR(pg_catalog.=) \$2; END \$\$;
CREATE OPERATOR $schema.= (LEFTARG = text, RIGHTARG = text, FUNCTION = $schema.eq_t);
CREATE FUNCTION $schema.eq_n(name, name) RETURNS boolean LANGUAGE plpgsql AS \$\$ BEGIN $esc RETURN \$1 OPERATOR(pg_catalog.=) \$2; END \$\$;
CREATE OPERATOR $schema.= (LEFTARG = name, RIGHTARG = name, FUNCTION = $schema.eq_n);
CREATE FUNCTION $schema.eq_o(oid, oid) RETURNS boolean LANGUAGE plpgsql AS \$\$ BEGIN $esc RETURN \$1 OPERATOR(pg_catalog.=) \$2; END \$\$;
CREATE OPERATOR $schema.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = $schema.eq_o);
CREATE FUNCTION $schema.eq_i(int, int) RETURNS boolean LANGUAGE plpgsql AS \$\$ BEGIN $esc RETURN \$1 OPERATOR(pg_catalog.=) \$2; END \$\$;
CREATE OPERATOR $schema.= (LEFTARG = int, RIGHTARG = int, FUNCTION = $schema.eq_i);
CREATE FUNCTION $schema.plus(bigint, bigint) RETURNS bigint LANGUAGE plpgsql AS \$\$ BEGIN $esc RETURN \$1 OPERATOR(pg_catalog.+) \$2; END \$\$;
CREATE OPERATOR $schema.+ (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = $schema.plus);
CREATE FUNCTION $schema.esc() RETURNS void LANGUAGE plpgsql AS \$\$ BEGIN $esc END \$\$;
}, $db);
	is($rc, 0, "$role plants its objects in $db.$schema") or diag($err);
}

my $topic = "sec_$run";
sq(qq{
CREATE ROLE role_a LOGIN; CREATE ROLE role_b LOGIN; CREATE ROLE role_n NOLOGIN;
GRANT USAGE ON FOREIGN SERVER kafka TO role_a, role_b, role_n;
GRANT USAGE ON SCHEMA kafka TO role_a, role_b, role_n;
GRANT CREATE ON DATABASE postgres TO role_a, role_b;
GRANT CREATE ON SCHEMA public TO role_a, role_b, role_n;
SELECT kafka.create_topic('kafka', '$topic', 1);
SELECT count(*) FROM (SELECT kafka.produce('kafka', '$topic', json_build_object('id', g)::text) FROM generate_series(1, 20) g) x;
});
as('role_a', 'CREATE SCHEMA role_a');
plant('role_a', 'role_a', 'postgres');

# --- finding 1: group positions under the caller's search_path ------------
my ($rc, $out, $err) = as('role_a', "SET search_path = role_a, pg_catalog;
  SELECT kafka.set_group_offset('kafka', 'ga', '$topic', 0, 0);
  SELECT count(*) FROM kafka.reset_group('kafka', 'ga', '$topic', 'earliest');
  SELECT count(*) FROM kafka.group_lag('kafka', 'ga');");
is($rc, 0, 'role_a moves its own group with a planted search_path') or diag($err);
no_escalation('set_group_offset/reset_group/group_lag with planted now() and =');

# reading its own group table, without USAGE on schema kafka
sq("REVOKE USAGE ON SCHEMA kafka FROM role_a");
($rc, $out, $err) = as('role_a', "CREATE FOREIGN TABLE role_a.feed (id int) SERVER kafka
    OPTIONS (topic '$topic', format 'json', group 'ga2');
  SET search_path = role_a, pg_catalog;
  SELECT count(*) FROM role_a.feed;");
is($rc, 0, 'role_a reads its group table') or diag($err);
is($out, '20', 'role_a reads every message through its group');
no_escalation('a group table read with a planted search_path');
sq("GRANT USAGE ON SCHEMA kafka TO role_a");

# --- finding 8: groups have owners ------------------------------------------
($rc, $out, $err) = as('role_b', "SELECT kafka.set_group_offset('kafka', 'gb', '$topic', 0, 5)");
is($rc, 0, 'role_b makes group gb (its first user owns it)') or diag($err);
is(($node->psql('postgres', "SELECT owner FROM kafka.groups WHERE group_name = 'gb'"))[1], 'role_b', 'gb belongs to role_b');
for my $attack (
	[ "SELECT * FROM kafka.group_lag('kafka', 'gb')", 'read the positions' ],
	[ "SELECT kafka.set_group_offset('kafka', 'gb', '$topic', 0, 0)", 'move a position' ],
	[ "SELECT * FROM kafka.reset_group('kafka', 'gb', '$topic', 'earliest')", 'reset it' ],
	[ "SELECT kafka.alter_group_owner('kafka', 'gb', 'role_a')", 'take it over' ],
	[ "CREATE FOREIGN TABLE role_a.stolen (id int) SERVER kafka OPTIONS (topic '$topic', format 'json', group 'gb');
	   SELECT count(*) FROM role_a.stolen", 'consume through it' ])
{
	($rc, $out, $err) = as('role_a', $attack->[0]);
	like($err, qr/permission denied for consumer group "gb"/, "role_a cannot $attack->[1] of role_b's group");
}
is(sq("SELECT string_agg(partition || ':' || next_offset, ',') FROM kafka.group_offsets WHERE group_name = 'gb'"),
	'0:5', "role_b's position is untouched");
($rc, $out, $err) = as('role_a', "SELECT * FROM kafka.groups WHERE group_name = 'gb'");
is($rc, 0, 'everyone may see which groups exist and their owners');
$node->psql('postgres', "SELECT kafka.alter_group_owner('kafka', 'gb', 'role_a')");
($rc, $out, $err) = as('role_a', "SELECT count(*) FROM kafka.group_lag('kafka', 'gb')");
is($rc, 0, 'a superuser hands the group over to role_a') or diag($err);
($rc, $out, $err) = as('role_b', "SELECT count(*) FROM kafka.group_lag('kafka', 'gb')");
like($err, qr/permission denied for consumer group/, 'and role_b no longer reads it');

# --- finding 4: the sink worker and the target's triggers -----------------
# role_a's target has a trigger that sets the session's search_path to its
# schema (which shadows now(), =, to_regclass, +): the worker's own SQL must
# not find them, neither while the sink runs nor after it was dropped.
sq("CREATE FOREIGN TABLE public.sec_feed_a (part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'), id int)
      SERVER kafka OPTIONS (topic '$topic', format 'json', group 'sink_a');
    GRANT SELECT ON public.sec_feed_a TO role_a;");
($rc, $out, $err) = as('role_a', qq{
CREATE TABLE role_a.tgt (id int);
CREATE FUNCTION role_a.trg() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
  PERFORM pg_catalog.set_config('search_path', 'role_a, pg_catalog', false);
  PERFORM role_a.esc();
  RETURN NEW;
END \$\$;
CREATE TRIGGER t BEFORE INSERT ON role_a.tgt FOR EACH ROW EXECUTE FUNCTION role_a.trg();
SELECT kafka.create_sink('sink_a', 'public.sec_feed_a', 'role_a.tgt');
});
is($rc, 0, 'role_a creates a sink into its table with the trigger') or diag($err);
is(wait_for("SELECT count(*) FROM role_a.tgt", '20'), '20', "role_a's sink applies the topic");
my $worker = sq("SELECT worker_pid FROM kafka.sink_status WHERE name = 'sink_a'");
is(sq("SELECT usename FROM pg_stat_activity WHERE pid = $worker"), 'role_a', "the sink's worker is connected as role_a");
sleep 3;    # the worker's loop lists its sinks again every 2 s
no_escalation('a sink whose target trigger sets search_path');
as('role_a', "SELECT kafka.drop_sink('sink_a')");
sleep 3;
no_escalation('after the sink was dropped');

# --- finding 4: the database owner's settings ------------------------------
sq("CREATE ROLE role_o LOGIN; CREATE DATABASE db_o OWNER role_o;");
sq("CREATE EXTENSION kafka_fdw; GRANT USAGE ON SCHEMA kafka TO role_o;", 'db_o');
as('role_o', 'CREATE SCHEMA role_o', 'db_o');
plant('role_o', 'role_o', 'db_o');
($rc, $out, $err) = as('role_o', "ALTER DATABASE db_o SET search_path = role_o, pg_catalog; SELECT kafka._sink_wake();", 'db_o');
is($rc, 0, 'role_o sets its database search_path and wakes the sink workers') or diag($err);
sleep 3;
no_escalation("the sink lookup worker under the database owner's search_path");

# --- finding 9: one owner's slow sink stops nobody else's -------------------
sq("ALTER SYSTEM SET kafka_fdw.sink_batch_timeout = 2000; SELECT pg_reload_conf();");
sq("CREATE FOREIGN TABLE public.sec_feed_slow (id int) SERVER kafka OPTIONS (topic '$topic', format 'json', group 'sink_slow');
    CREATE FOREIGN TABLE public.sec_feed_a2 (id int) SERVER kafka OPTIONS (topic '$topic', format 'json', group 'sink_a2');
    CREATE FOREIGN TABLE public.sec_feed_b (id int) SERVER kafka OPTIONS (topic '$topic', format 'json', group 'sink_b');
    GRANT SELECT ON public.sec_feed_slow, public.sec_feed_a2 TO role_a; GRANT SELECT ON public.sec_feed_b TO role_b;");
($rc, $out, $err) = as('role_a', qq{
CREATE TABLE role_a.slow (id int);
CREATE FUNCTION role_a.sleepy() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN PERFORM pg_catalog.pg_sleep(600); RETURN NEW; END \$\$;
CREATE TRIGGER s BEFORE INSERT ON role_a.slow FOR EACH ROW EXECUTE FUNCTION role_a.sleepy();
CREATE TABLE role_a.fast (id int);
SELECT kafka.create_sink('a_slow', 'public.sec_feed_slow', 'role_a.slow');
SELECT kafka.create_sink('a_fast', 'public.sec_feed_a2', 'role_a.fast');
});
is($rc, 0, "role_a's slow and fast sinks") or diag($err);
($rc, $out, $err) = as('role_b', "CREATE TABLE public.b_tgt (id int); SELECT kafka.create_sink('b_sink', 'public.sec_feed_b', 'public.b_tgt');");
is($rc, 0, "role_b's sink") or diag($err);
is(wait_for("SELECT count(*) FROM public.b_tgt", '20', 30), '20', "role_b's sink applies while role_a's trigger sleeps");
is(wait_for("SELECT count(*) FROM role_a.fast", '20', 30), '20', "role_a's other sink applies too (the slow batch is cancelled)");
like(wait_for("SELECT last_error LIKE '%statement timeout%' FROM kafka.sinks WHERE name = 'a_slow'", 't', 30), qr/^t$/,
	"the slow batch's error is recorded");

# --- finding 10: last_error only for the owner's members ------------------
($rc, $out, $err) = as('role_b', "SELECT last_error IS NULL FROM kafka.sink_status WHERE name = 'a_slow'");
is($out, 't', "role_b does not see role_a's last_error");
($rc, $out, $err) = as('role_b', "SELECT last_error FROM kafka.sinks WHERE name = 'a_slow'");
like($err, qr/permission denied/, 'kafka.sinks.last_error is not readable');
($rc, $out, $err) = as('role_a', "SELECT last_error LIKE '%statement timeout%' FROM kafka.sink_status WHERE name = 'a_slow'");
is($out, 't', 'role_a sees its own last_error');
as('role_a', "SELECT kafka.drop_sink('a_slow')");

# --- finding 13: create_sink's checks, also for direct INSERTs --------------
sq("CREATE TABLE public.up (id int PRIMARY KEY);
    GRANT INSERT, UPDATE, SELECT ON public.up TO role_b;
    CREATE FOREIGN TABLE public.sec_feed_up (part int OPTIONS (partition 'true'), off bigint OPTIONS (offset 'true'),
      k text OPTIONS (key 'true'), v text OPTIONS (value 'true'), id int)
      SERVER kafka OPTIONS (topic '$topic', format 'json', group 'sink_up');
    GRANT SELECT ON public.sec_feed_up TO role_b;");
($rc, $out, $err) = as('role_b', "SELECT kafka.create_sink('up', 'public.sec_feed_up', 'public.up', '{\"mode\": \"upsert\"}')");
like($err, qr/permission denied to create sink.*\n.*INSERT, UPDATE, DELETE and SELECT/, 'an upsert sink needs DELETE on its target');
sq("CREATE TABLE public.noins (id int); GRANT SELECT ON public.noins TO role_b;");
($rc, $out, $err) = as('role_b', "INSERT INTO kafka.sinks (name, source, target, owner) VALUES ('direct', 'public.sec_feed_b', 'public.noins', 'role_b')");
like($err, qr/permission denied to create sink "direct"/, 'a direct INSERT into kafka.sinks gets the same checks');
($rc, $out, $err) = as('role_b', "INSERT INTO kafka.sinks (name, source, target, owner) VALUES ('direct', 'public.sec_feed_b', 'public.b_tgt', 'role_a')");
like($err, qr/belongs to the role that creates it/, 'nor may it name another owner');
($rc, $out, $err) = as('role_b', "INSERT INTO kafka.sinks (name, source, target, owner, rows_applied) VALUES ('direct', 'public.sec_feed_b', 'public.b_tgt', 'role_b', 5)");
like($err, qr/permission denied/, 'nor set what the worker records');
sq("GRANT SELECT ON public.sec_feed_b TO role_n; GRANT role_n TO role_b;");
($rc, $out, $err) = as('role_b', "SET ROLE role_n; CREATE TABLE public.n_tgt (id int); SELECT kafka.create_sink('nl', 'public.sec_feed_b', 'public.n_tgt')");
like($err, qr/cannot own a sink: it cannot log in/, 'a role that cannot log in cannot own a sink');

# --- finding 5: a schema "kafka" made before CREATE EXTENSION --------------
sq("CREATE DATABASE db_s; GRANT CREATE ON DATABASE db_s TO role_a;");
as('role_a', 'CREATE SCHEMA kafka', 'db_s');
($rc, $out, $err) = $node->psql('db_s', 'CREATE EXTENSION kafka_fdw');
like($err, qr/schema kafka is owned by role "role_a"/, "CREATE EXTENSION refuses role_a's schema kafka");
sq("ALTER SCHEMA kafka OWNER TO postgres; GRANT CREATE ON SCHEMA kafka TO role_a;", 'db_s');
($rc, $out, $err) = $node->psql('db_s', 'CREATE EXTENSION kafka_fdw');
like($err, qr/role "role_a" may create objects in schema kafka/, 'and a schema kafka open to CREATE by role_a');
sq("REVOKE CREATE ON SCHEMA kafka FROM role_a; CREATE EXTENSION kafka_fdw;", 'db_s');
is(sq("SELECT extversion FROM pg_extension WHERE extname = 'kafka_fdw'", 'db_s'), '0.4.0', 'a superuser-owned schema kafka is fine');

# --- review findings -------------------------------------------------------------
# A view's reader uses the view owner's user mapping, and so the view owner's
# group: it must not claim the group for itself.
sq("GRANT USAGE ON SCHEMA public TO role_a, role_b");
($rc, $out, $err) = as('role_b', "CREATE FOREIGN TABLE public.vsrc (id int) SERVER kafka OPTIONS (topic '$topic', format 'json', group 'v_group');
    CREATE VIEW public.v AS SELECT * FROM public.vsrc; GRANT SELECT ON public.v TO role_a;");
is($rc, 0, 'role_b makes a view over its group table') or diag($err);
($rc, $out, $err) = as('role_a', "SELECT count(*) FROM public.v");
is($out, '20', "role_a reads role_b's view");
is(sq("SELECT owner FROM kafka.groups WHERE group_name = 'v_group'"), 'role_b', "the view's group is the view owner's, not its reader's");
($rc, $out, $err) = as('role_b', "SELECT count(*) FROM public.v");
is($rc, 0, 'role_b still reads its view') or diag($err);

# create_sink checks the source's group at once
($rc, $out, $err) = as('role_a', "CREATE FOREIGN TABLE role_a.gsrc (id int) SERVER kafka OPTIONS (topic '$topic', format 'json', group 'v_group');
    CREATE TABLE role_a.gtgt (id int); SELECT kafka.create_sink('steal', 'role_a.gsrc', 'role_a.gtgt');");
like($err, qr/permission denied for consumer group "v_group"/, "create_sink refuses a source whose group is another role's");

# A batch whose trigger catches the cancel is terminated with its worker; the
# owner's other sinks go on.
sq("CREATE FOREIGN TABLE public.sec_feed_loop (id int) SERVER kafka OPTIONS (topic '$topic', format 'json', group 'sink_loop');
    CREATE FOREIGN TABLE public.sec_feed_ok (id int) SERVER kafka OPTIONS (topic '$topic', format 'json', group 'sink_ok');
    GRANT SELECT ON public.sec_feed_loop, public.sec_feed_ok TO role_a;");
($rc, $out, $err) = as('role_a', qq{
CREATE TABLE role_a.looping (id int);
CREATE FUNCTION role_a.forever() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN LOOP BEGIN PERFORM pg_catalog.pg_sleep(3600); EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END \$\$;
CREATE TRIGGER f BEFORE INSERT ON role_a.looping FOR EACH ROW EXECUTE FUNCTION role_a.forever();
CREATE TABLE role_a.ok (id int);
SELECT kafka.create_sink('a_loop', 'public.sec_feed_loop', 'role_a.looping');
SELECT kafka.create_sink('b_ok', 'public.sec_feed_ok', 'role_a.ok');
});
is($rc, 0, "role_a's looping and plain sinks") or diag($err);
is(wait_for("SELECT count(*) FROM role_a.ok", '20', 60), '20', "the owner's other sink applies (the looping batch is terminated)");
like(wait_for("SELECT last_error LIKE '%terminated%' FROM kafka.sinks WHERE name = 'a_loop'", 't', 30), qr/^t$/,
	"the looping sink's last_error says it was terminated");
as('role_a', "SELECT kafka.drop_sink('a_loop')");

# ALTER DEFAULT PRIVILEGES of the installing role open none of the
# extension's tables (a TRIGGER grant ran a role's code as the owner)
sq("CREATE DATABASE db_d");
sq("ALTER DEFAULT PRIVILEGES FOR ROLE postgres GRANT ALL ON TABLES TO role_a;
    ALTER DEFAULT PRIVILEGES FOR ROLE postgres GRANT ALL ON FUNCTIONS TO role_a;
    ALTER DEFAULT PRIVILEGES FOR ROLE postgres GRANT ALL ON SCHEMAS TO role_a;
    CREATE EXTENSION kafka_fdw; GRANT USAGE ON SCHEMA kafka TO role_a;", 'db_d');
is(sq("SELECT string_agg(c.relname || ':' || a.privilege_type, ',') FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.relnamespace = 'kafka'::regnamespace AND a.grantee = 'role_a'::regrole", 'db_d'), '',
	"default privileges grant role_a nothing on the extension's tables and views");
($rc, $out, $err) = as('role_a', "CREATE FUNCTION public.t() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN RETURN NEW; END \$\$;
    CREATE TRIGGER m BEFORE INSERT ON kafka.groups FOR EACH ROW EXECUTE FUNCTION public.t();", 'db_d');
like($err, qr/permission denied|must be owner/, 'role_a cannot put a trigger on kafka.groups');
($rc, $out, $err) = as('role_a', "SELECT kafka.create_topic('kafka', 'x', 1)", 'db_d');
like($err, qr/permission denied for function create_topic/, 'nor run the functions kept from PUBLIC');
is(sq("SELECT has_schema_privilege('role_a', 'kafka', 'CREATE')", 'db_d'), 'f', 'nor create objects in schema kafka');

# A pre-existing schema kafka with an object planted in it
sq("CREATE DATABASE db_p; GRANT CREATE ON DATABASE db_p TO role_a;");
sq("CREATE SCHEMA kafka; GRANT USAGE, CREATE ON SCHEMA kafka TO role_a;", 'db_p');
($rc, $out, $err) = as('role_a', "CREATE FUNCTION kafka.req(regrole, regrole) RETURNS boolean LANGUAGE sql AS 'SELECT true';
    CREATE OPERATOR kafka.= (LEFTARG = regrole, RIGHTARG = regrole, FUNCTION = kafka.req);", 'db_p');
is($rc, 0, 'role_a plants an operator in schema kafka') or diag($err);
sq("REVOKE CREATE ON SCHEMA kafka FROM role_a;", 'db_p');
($rc, $out, $err) = $node->psql('db_p', 'CREATE EXTENSION kafka_fdw');
like($err, qr/schema kafka holds objects that are not kafka_fdw's/, "CREATE EXTENSION refuses a schema kafka with another role's objects");

# --- owners are not left dangling -----------------------------------------------
($rc, $out, $err) = $node->psql('postgres', 'DROP ROLE role_b');
like($err, qr/role "role_b" cannot be dropped because it owns kafka_fdw work in this database\n.*1 sink\(s\)/,
	'DROP ROLE refuses the owner of a sink');

# --- newer librdkafka's properties that read server files --------------------
# librdkafka 2.11+ (PostgreSQL 18's 2.14) added OIDC assertion properties that
# read files and one that queries the cloud metadata service; a plain role with
# USAGE must not set them in its user mapping.  Older librdkafka does not know
# them (refused as not public): that counts as refused too, but the 2.14 root
# must say "only superusers".
for my $prop ('sasl.oauthbearer.assertion.private.key.file', 'sasl.oauthbearer.assertion.file',
	'sasl.oauthbearer.assertion.jwt.template.file', 'https.ca.location',
	'sasl.oauthbearer.metadata.authentication.type')
{
	my $value = $prop =~ /type$/ ? 'azure_imds' : '/etc/passwd';
	($rc, $out, $err) = as('role_a',
		qq{CREATE USER MAPPING FOR role_a SERVER kafka OPTIONS ("$prop" '$value')});
	if ($err =~ /has no public configuration property/)
	{
		pass("$prop: unknown to this librdkafka, refused");
	}
	elsif ($prop !~ /^(sasl|ssl)\./)
	{
		# user mappings take sasl.* and ssl.* only (the unit test
		# config_superuser_only covers the name itself)
		like($err, qr/invalid user mapping option "\Q$prop\E"/, "$prop: not a user mapping option");
	}
	else
	{
		like($err, qr/only superusers may set librdkafka property "\Q$prop\E"/, "$prop is superuser-only");
	}
}

no_escalation('the whole file');
is(log_has_crash($node), '', 'no backend crashed');
$node->stop;
done_testing();
