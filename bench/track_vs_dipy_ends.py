"""Where do streamlines end? FA map and ellipsoid radius at the end points, Evidentia vs DIPY eudx_tracking.

Run after bench/track_vs_dipy.py: python3 bench/track_vs_dipy_ends.py [/tmp/track_vs_dipy/step0.5]
Uses every 64th seed (DIPY) and the matching Evidentia streamlines (every 8th of the every-8th dump).
Radius = sqrt(sum((p/(75,88,56))^2)); the phantom's white matter ends at 0.85.
"""
import os, sys
import numpy as np
import nibabel as nib
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import track_vs_dipy as T
from scipy.ndimage import map_coordinates
d = sys.argv[1] if len(sys.argv) > 1 else '/tmp/track_vs_dipy/step0.5'
img=nib.load(d+'/tensor.nii.gz'); aff=img.affine; inv=np.linalg.inv(aff)
t6=np.asarray(img.dataobj,dtype=float); fa=np.asarray(nib.load(d+'/fa.nii.gz').dataobj,dtype=float); mask=np.asarray(nib.load(d+'/mask.nii.gz').dataobj)>0
pam,sph,_,_=T.peaks_from_tensor(t6,mask,fa,aff)
seeds=T.seed_order_like_evidentia(T.seeds_from_mask(mask&(fa>=0.2),aff,density=2))
sub=seeds[::64]
sc=T.ThresholdStoppingCriterion(fa,0.2)
dl=list(T.Streamlines(T.eudx_tracking(sub,sc,aff,pam=pam,sphere=sph,step_size=0.5,max_angle=50,pmf_threshold=0.1,nbr_threads=2,random_seed=1,return_all=True)))
ev=T.load_tck(d+'/whole_every8.tck')[::8]
def ends(sl):
    e=np.array([s[0] for s in sl]+[s[-1] for s in sl],dtype=float)
    v=e@inv[:3,:3].T+inv[:3,3]
    f=map_coordinates(fa,v.T,order=1,mode='nearest')
    r=np.sqrt(((e/np.array([75,88,56]))**2).sum(1))
    return f,r
for name,sl in [('evidentia',ev),('dipy',dl)]:
    f,r=ends(sl)
    print(name,len(sl),'endpoint FA(map, trilinear) quantiles',np.round(np.quantile(f,[.05,.25,.5,.75,.95]),3),
          'share FA<0.2',round(float((f<0.2).mean()),3),'share FA>0.3 (interior stop)',round(float((f>0.3).mean()),3),
          'ellipsoid radius of ends median',round(float(np.median(r)),3), 'share r<0.8', round(float((r<0.8).mean()),3))

# Ablation: DIPY LocalTracking's EuDX getter without its neighbour-peak rules (every 64th seed).
# ang_thr 90 keeps every neighbour's peak in the blend, total_weight 0 never stops for lack of weight.
for tw, ang in [(0.5, 50), (0.0, 50), (0.0, 90)]:
    pam.qa_thr, pam.ang_thr, pam.total_weight = 0.2, ang, tw
    sl = list(T.Streamlines(T.LocalTracking(pam, sc, sub, aff, step_size=0.5, return_all=True)))
    s, _ = T.summarise(sl, fa, inv)
    print("LocalTracking total_weight", tw, "ang_thr", ang, {x: round(y, 4) for x, y in s.items()})
ev_s, _ = T.summarise(ev, fa, inv)
print("Evidentia (same subset)", {x: round(y, 4) for x, y in ev_s.items()})
