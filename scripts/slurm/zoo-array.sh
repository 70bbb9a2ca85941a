#!/usr/bin/env bash
# The tf2h5 zoo as a Slurm job array: task K of N verifies shard K/N of the models below ZOO_DIR;
# one merge job, started when every task has ended, writes the report of the whole zoo.
#
#   ZOO_DIR=/data/models sbatch --array=1-16 scripts/slurm/zoo-array.sh
#
# Shard reports go to $REPORTS/shard-K, the merged report (zoo.md, zoo.json, zoo.html,
# junit.xml) to $REPORTS/merged. TF2H5 is the binary (default: the release build).
#SBATCH --job-name=tf2h5-zoo
#SBATCH --cpus-per-task=4
#SBATCH --mem=16G
#SBATCH --time=04:00:00
#SBATCH --output=tf2h5-zoo-%A_%a.out
set -euo pipefail

: "${ZOO_DIR:?set ZOO_DIR to the folder of models}"
: "${SLURM_ARRAY_TASK_ID:?submit with sbatch --array=1-N}"
TF2H5="${TF2H5:-$(pwd)/target/release/tf2h5}"
REPORTS="${REPORTS:-$(pwd)/zoo-reports}"
count="${SLURM_ARRAY_TASK_COUNT}"

# The first task queues the merge, to run once every task of this array has ended (pass or fail).
if [ "$SLURM_ARRAY_TASK_ID" = "${SLURM_ARRAY_TASK_MIN:-1}" ]; then
    shards=()
    for k in $(seq 1 "$count"); do shards+=("$REPORTS/shard-$k"); done
    sbatch --dependency="afterany:${SLURM_ARRAY_JOB_ID}" --job-name=tf2h5-zoo-merge \
        --output="tf2h5-zoo-merge-%j.out" \
        --wrap="'$TF2H5' zoo-merge --report-dir '$REPORTS/merged' --junit '$REPORTS/merged/junit.xml' ${shards[*]}"
fi

# Exit 1 (a model failed) is a result, not a job failure: the merged report carries it.
"$TF2H5" zoo "$ZOO_DIR" --shard "$SLURM_ARRAY_TASK_ID/$count" --jobs "${SLURM_CPUS_PER_TASK:-2}" \
    --out-dir "$REPORTS/out-$SLURM_ARRAY_TASK_ID" --report-dir "$REPORTS/shard-$SLURM_ARRAY_TASK_ID" || [ $? = 1 ]
