"""The board modules on fakes of machine and rp2, their config, and the firmware put on a board (deploy, manifest)."""
