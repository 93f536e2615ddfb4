/**
 * `deno task build`: compiles main.ts into the one executable that goes to
 * /opt/cni/bin. --allow-all because Deno grants reads of /proc/PID (how the
 * plugin recognises its own daemons) to nothing narrower.
 */

const OUTPUT = "dist/strongswan";

const denort = Deno.env.get("DENORT_BIN");
if (denort) {
  try {
    await Deno.stat(denort);
  } catch {
    console.error(`build: DENORT_BIN=${denort} does not exist; point it at Deno's denort binary.`);
    Deno.exit(1);
  }
}

const out = await new Deno.Command(Deno.execPath(), {
  args: ["compile", "--quiet", "--allow-all", "--output", OUTPUT, "main.ts"],
  stdout: "inherit",
  stderr: "piped",
}).output();

if (!out.success) {
  const stderr = new TextDecoder().decode(out.stderr);
  if (/denort|Setting up base binary/.test(stderr)) {
    console.error(
      `build: deno compile needs Deno's runtime "denort" (denort-x86_64-unknown-linux-gnu.zip of Deno ${Deno.version.deno}), which it downloads from Deno's server and could not reach; copy it here and run DENORT_BIN=/path/to/denort deno task build.`,
    );
  } else {
    console.error(`build: deno compile failed:\n${stderr}`);
  }
  Deno.exit(1);
}
console.log(`built ${OUTPUT}`);
