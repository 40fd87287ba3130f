-- A real single-node Slurm cluster for the specs, on this machine: munged with its own
-- key and socket, slurmctld and slurmd with a small generated slurm.conf, everything in a
-- temporary folder, on two free local ports, no systemd. The daemons run in the
-- foreground of their own processes, and stop() ends exactly those, by their process
-- ids. Needs root (slurmd runs each job as its submitter) and Debian's slurmctld, slurmd,
-- slurm-client and munge (`make deps` installs them).
--
--   local slurm = require("helpers.slurm")
--   local cluster = slurm.start()              -- fails with the reason when it cannot
--   local id = cluster:sbatch({"--array=0-3", script})
--   cluster:wait(id)                           -- all tasks done; fails on a failed task
--   cluster:stop()
--   slurm.cluster_all(function(c, dir) cluster, out = c, dir end)  -- for a describe block
local files = require("helpers.files")
local log = require("helpers.log")

local M = {}

local NODE = "nstnode"
local TERMINAL = {COMPLETED = true, FAILED = true, CANCELLED = true, TIMEOUT = true,
                  NODE_FAIL = true, OUT_OF_MEMORY = true, PREEMPTED = true, BOOT_FAIL = true,
                  DEADLINE = true}

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- A log file's text, or "" when the daemon wrote none.
local function read(path) return files.exists(path) and files.read(path) or "" end

local function sh(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local ok, _, code = p:close()
  return ok, out, code
end

local function sleep(s) os.execute("sleep " .. s) end

local function tail(s, n)
  local lines = log.lines(s)
  return table.concat(lines, "\n", math.max(1, #lines - n + 1))
end

-- Ports someone listens on (TCP, IPv4 and IPv6), from /proc.
local function ports_in_use()
  local used = {}
  for _, f in ipairs{"/proc/net/tcp", "/proc/net/tcp6"} do
    for line in io.lines(f) do
      local port, st = line:match("^%s*%d+:%s+%x+:(%x+)%s+%x+:%x+%s+(%x+)")
      if port and st == "0A" then used[tonumber(port, 16)] = true end
    end
  end
  return used
end

local function free_ports()
  local used = ports_in_use()
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16))
  for _ = 1, 100 do
    local p = math.random(20000, 59998)
    if not used[p] and not used[p + 1] then return p, p + 1 end
  end
  error("slurm test cluster: no two free local ports found")
end

local function check_requirements()
  local ok, uid = sh("id -u")
  if not ok or tonumber(uid) ~= 0 then
    error("slurm test cluster: needs root (slurmd runs jobs as their submitter, and munged and " ..
          "slurmctld here run as root); run the specs as root, as CI does", 0)
  end
  for _, tool in ipairs{"munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo"} do
    if not sh("command -v " .. tool .. " >/dev/null") then
      error(("slurm test cluster: %s not found; install Debian's slurmctld slurmd slurm-client munge " ..
             "(make deps)"):format(tool), 0)
    end
  end
end

local function conf(dir, host, ports)
  return table.concat({
    "ClusterName=nsttest",
    ("SlurmctldHost=%s(127.0.0.1)"):format(host),
    "SlurmctldPort=" .. ports[1],
    "SlurmdPort=" .. ports[2],
    "SlurmUser=root",
    "SlurmdUser=root",
    "AuthType=auth/munge",
    "CredType=cred/munge",
    "AuthInfo=socket=" .. dir .. "/munge.sock",
    "StateSaveLocation=" .. dir .. "/state",
    "SlurmdSpoolDir=" .. dir .. "/spool",
    "SlurmctldPidFile=" .. dir .. "/slurmctld.pid",
    "SlurmdPidFile=" .. dir .. "/slurmd.pid",
    "SlurmctldLogFile=" .. dir .. "/slurmctld.log",
    "SlurmdLogFile=" .. dir .. "/slurmd.log",
    "ProctrackType=proctrack/linuxproc",
    "TaskPlugin=task/none",
    "SelectType=select/cons_tres",
    "SelectTypeParameters=CR_Core",
    "MpiDefault=none",
    "SwitchType=switch/none",
    "JobAcctGatherType=jobacct_gather/none",
    "AccountingStorageType=accounting_storage/none",
    "JobCompType=jobcomp/none",
    "MailProg=/bin/true",
    "ReturnToService=2",
    "MinJobAge=600",
    "KillWait=5",
    ("NodeName=%s NodeAddr=127.0.0.1 NodeHostname=%s CPUs=2 State=UNKNOWN"):format(NODE, host),
    "PartitionName=test Nodes=ALL Default=YES MaxTime=10 State=UP",
  }, "\n") .. "\n"
end

local Cluster = {}
Cluster.__index = Cluster

-- Starts one daemon in the foreground of a background process; returns its pid.
function Cluster:spawn(name, cmd)
  local ok, out = sh(("cd %s && (%s </dev/null >%s 2>&1 & echo $!)"):format(q(self.dir), cmd,
                     q(self.dir .. "/" .. name .. ".out")))
  local pid = ok and tonumber(out:match("%d+"))
  if not pid then error("slurm test cluster: cannot start " .. name, 0) end
  table.insert(self.pids, {name = name, pid = pid})
  return pid
end

local function alive(pid) return os.execute("kill -0 " .. pid .. " 2>/dev/null") == true end

-- Fails with the daemons' last log lines when one of them has exited.
function Cluster:check_alive(what)
  for _, d in ipairs(self.pids) do
    if not alive(d.pid) then
      local log = read(self.dir .. "/" .. d.name .. ".out")
      self:stop()
      error(("slurm test cluster: %s exited while %s:\n%s"):format(d.name, what, tail(log, 8)), 0)
    end
  end
end

-- Polls fn every 0.1 s until it returns a true value or timeout seconds pass.
function Cluster:poll(what, timeout, fn)
  local t0 = os.time()
  while true do
    local v = fn()
    if v then return v end
    self:check_alive(what)
    if os.time() - t0 > timeout then
      local logs = tail(read(self.dir .. "/slurmctld.out"), 5) .. "\n" .. tail(read(self.dir .. "/slurmd.out"), 5)
      self:stop()
      error(("slurm test cluster: timed out after %d s %s\n%s"):format(timeout, what, logs), 0)
    end
    sleep(0.1)
  end
end

-- Runs a Slurm command (a shell command line) against this cluster; its stdout, or an
-- error with its output.
function Cluster:run(cmd)
  local ok, out, code = sh(("SLURM_CONF=%s %s 2>&1"):format(q(self.conf), cmd))
  if not ok then error(("slurm: `%s` failed (exit %s): %s"):format(cmd, tostring(code), out), 2) end
  return out
end

-- The environment prefix a shell command needs to use this cluster.
function Cluster:env() return "SLURM_CONF=" .. q(self.conf) .. " " end

-- sbatch with these arguments (each one shell word); returns the job id.
function Cluster:sbatch(args)
  local words = {}
  for i, a in ipairs(args) do words[i] = q(a) end
  local out = self:run("sbatch --parsable " .. table.concat(words, " "))
  return out:match("^(%d+)") or error("sbatch printed no job id: " .. out, 2)
end

-- Waits until every task of the job is over; fails when one did not complete. Returns
-- the number of tasks.
function Cluster:wait(id, timeout)
  local states
  self:poll("waiting for job " .. id, timeout or 60, function()
    local out = self:run(("squeue -h -t all -j %s -o %%T"):format(id))
    states = {}
    for s in out:gmatch("%S+") do states[#states + 1] = s end
    if #states == 0 then return false end
    for _, s in ipairs(states) do
      if not TERMINAL[s] then return false end
    end
    return true
  end)
  for _, s in ipairs(states) do
    if s ~= "COMPLETED" then error(("job %s: a task ended %s"):format(id, s), 2) end
  end
  return #states
end

-- Ends the daemons this cluster started, by pid: TERM to all (each takes 1-2 s to wind
-- down, so they do it together), then KILL to any left after 10 s; removes the folder.
function Cluster:stop()
  if self.stopped then return end
  self.stopped = true
  for _, d in ipairs(self.pids) do os.execute("kill -TERM " .. d.pid .. " 2>/dev/null") end
  for _, d in ipairs(self.pids) do
    for _ = 1, 100 do
      if not alive(d.pid) then break end
      sleep(0.1)
    end
    if alive(d.pid) then os.execute("kill -KILL " .. d.pid .. " 2>/dev/null") end
  end
  os.execute("rm -rf -- " .. q(self.dir))
end

-- Starts the cluster and waits (timeout seconds, default 30) until its node is idle.
function M.start(timeout)
  check_requirements()
  local ok, dir = sh("mktemp -d /tmp/nst-slurm.XXXXXX")
  dir = ok and dir:match("[^\n]+") or error("slurm test cluster: cannot make a temporary folder", 0)
  local host = select(2, sh("hostname -s")):match("[^\n]+")
  local self = setmetatable({dir = dir, conf = dir .. "/slurm.conf", pids = {}}, Cluster)
  assert(os.execute(("mkdir -p %s %s"):format(q(dir .. "/state"), q(dir .. "/spool"))))
  files.write(self.conf, conf(dir, host, {free_ports()}))
  assert(os.execute(("mungekey -c -b 1024 -k %s"):format(q(dir .. "/munge.key"))), "mungekey failed")
  self:spawn("munged", ("munged -F -f --key-file=%s --socket=%s --pid-file=%s --seed-file=%s --log-file=%s")
    :format(q(dir .. "/munge.key"), q(dir .. "/munge.sock"), q(dir .. "/munged.pid"),
            q(dir .. "/munged.seed"), q(dir .. "/munged.log")))
  self:poll("starting munged", 10, function()
    return sh(("(munge -n -S %s | unmunge -S %s) >/dev/null 2>&1"):format(q(dir .. "/munge.sock"), q(dir .. "/munge.sock")))
  end)
  self:spawn("slurmctld", "slurmctld -D -f " .. q(self.conf))
  self:spawn("slurmd", ("slurmd -D -f %s -N %s"):format(q(self.conf), NODE))
  self:poll("waiting for the node to be idle", timeout or 30, function()
    local got, out = sh(("SLURM_CONF=%s sinfo -h -N -o %%T 2>/dev/null"):format(q(self.conf)))
    return got and out:match("^idle")
  end)
  return self
end

-- In the describe block it is called from: one cluster and one empty directory for all its
-- tests, handed to with(cluster, dir) once started; the cluster stopped and the directory
-- removed after them (as far as they came to be).
function M.cluster_all(with)
  local busted = require("busted")
  local cluster, dir
  busted.setup(function()
    cluster = M.start()
    dir = files.tmpdir()
    with(cluster, dir)
  end)
  busted.teardown(function()
    if cluster then cluster:stop() end
    if dir then files.rm_rf(dir) end
  end)
end

return M
