"""Where packets or flows come from: files, live capture through dumpcap, filters on playback, standard input; all behind one Source protocol (source.py)."""
