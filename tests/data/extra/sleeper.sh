#!/bin/sh
# An extra script that never answers: rrdd must kill it at its time limit.
sleep 600
