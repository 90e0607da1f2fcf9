# demo/packages.awk: `apt-cache dumpavail | awk -f demo/packages.awk` prints
# one line per package: name, section (without an archive area such as
# "contrib/"), first line of the description, tab-separated.
BEGIN { RS = ""; FS = "\n" }
{
	name = ""; sec = ""; desc = ""
	for (i = 1; i <= NF; i++) {
		if ($i ~ /^Package: /) name = substr($i, 10)
		else if ($i ~ /^Section: /) sec = substr($i, 10)
		else if ($i ~ /^Description: /) desc = substr($i, 14)
	}
	sub(/^[a-z-]+\//, "", sec)
	gsub(/[\t\\]/, " ", desc)
	if (name != "" && desc != "") print name "\t" sec "\t" desc
}
