#!/bin/sh
# An extra script that names files outside the host's directory.
echo "DS:x:GAUGE:600:U:U"
echo "../../escaped.rrd"
echo "1"
echo "inside.rrd"
echo "2"
