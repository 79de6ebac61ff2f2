import sys
from pathlib import Path

# sim/ is scripts, not a package: its modules import by name, as `python sim/fleet_sim.py` runs them;
# and the decisions they use are this checkout's runtime, whatever fluxer_runtime is installed.
ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "sim"), str(ROOT / "gpu-runtime")]
