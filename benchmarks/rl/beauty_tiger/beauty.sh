#!/bin/bash
# GRPO of the CPU TIGER checkpoint on Beauty (encoder-decoder), then supervised vs RL on test.
cd /work/bench/wt && source .venv/bin/activate
wd=/work/bench/rl_tiger/beauty; mkdir -p $wd
uptime >> $wd/uptime_before.txt
python -m genrec.main --gin_file=configs/experiments/rl_tiger_beauty.gin --run_mode=rl \
  --workdir=$wd --data_dir=/work/bench/beauty/tfds --raw_data_dir=/work/shared/data \
  --gin_bindings="rl.init_from='/work/bench/beauty/genrec-tiger/checkpoints'" \
  --gin_bindings="rl.init_step=776" "$@" > $wd/train.out 2>&1
uptime > $wd/uptime_after.txt
