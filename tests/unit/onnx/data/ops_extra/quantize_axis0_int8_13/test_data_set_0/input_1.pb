BscaleJмлL=млл=
вё<